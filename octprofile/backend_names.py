"""The names of the timing backends, importable without torch (``octprofile.runtime`` imports torch, and its
``prepare`` function shares its name with a submodule, so it cannot be imported lazily): the command line checks
--backend before any work. ``octprofile.runtime.prepare.BACKENDS`` has these keys, in this order (asserted there)."""

BACKEND_NAMES = ("plain", "eager", "compile", "onnxruntime", "openvino")
