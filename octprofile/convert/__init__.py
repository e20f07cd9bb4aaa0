"""Placement rules and the converter that applies them to a vanilla module tree."""

from octprofile.convert.converter import convert, execution_order
from octprofile.convert.coverage import BETWEEN, CLASSIFIER, Reason, vanilla_reasons_of
from octprofile.convert.fidelity import not_converted, unconvertible
from octprofile.convert.placement import RULES, PlacementError
from octprofile.errors import ConversionError

__all__ = ["BETWEEN", "CLASSIFIER", "RULES", "ConversionError", "PlacementError", "Reason", "convert",
           "execution_order", "not_converted", "unconvertible", "vanilla_reasons_of"]
