"""The thread count timing runs at, decided from given readings of the machine (no /proc needed), and the
reader of the real files on fake cgroup trees. No test times anything."""

import pytest

from octprofile.runtime.cpu_free import (
    CpuReadings,
    cgroup_quota,
    choose_threads,
    parse_cfs,
    parse_cpu_max,
    read_cpu_free,
)


def readings(*busy: float, machine: int | None = None, quota: float | None = None, own: float = 0.0) -> CpuReadings:
    return CpuReadings(allowed=len(busy), machine=machine or len(busy), busy=busy, own=own, quota=quota)


def chosen(r: CpuReadings | None, asked: int | None = None, setting: int = 64) -> int:
    return choose_threads(r, asked, setting).threads


def test_an_idle_machine_gives_every_allowed_core():
    assert chosen(readings(0.02, 0.05)) == 2
    assert chosen(readings(*[0.01] * 16)) == 16
    assert chosen(readings(0.1, 0.1)) == 2  # background noise below the tolerance is not a busy core


def test_one_of_two_cores_busy_gives_one_thread():
    assert chosen(readings(1.0, 0.03)) == 1
    assert chosen(readings(0.5, 0.5)) == 1  # one process moving between the cores takes one core all the same
    assert chosen(readings(0.45, 0.2)) == 1  # two thirds of a core is a core taken


def test_a_cgroup_quota_is_rounded_down():
    assert chosen(readings(0.0, 0.0, quota=1.5)) == 1
    assert chosen(readings(*[0.0] * 8, quota=4.0)) == 4
    assert chosen(readings(0.0, 0.0, quota=8.0)) == 2  # a quota above the cores leaves the cores


def test_an_affinity_of_one_core_gives_one_thread():
    assert chosen(readings(0.0, machine=2)) == 1


def test_never_zero_threads():
    assert chosen(readings(1.0, 1.0)) == 1
    assert chosen(readings(1.0, quota=0.5)) == 1
    assert chosen(readings(0.0, 0.0), setting=0) == 1


def test_at_most_the_thread_count_torch_is_set_to():
    assert chosen(readings(*[0.0] * 16), setting=8) == 8  # torch's default: the physical cores
    assert chosen(None, setting=4) == 4  # nothing read (no /proc/stat, or a GPU): torch's setting


def test_this_process_own_time_is_not_another_process_load():
    assert chosen(readings(0.9, 0.1, own=1.0)) == 2


def test_explicit_threads_are_honoured_with_a_warning_when_too_many():
    busy = choose_threads(readings(1.0, 0.0), 2, 2)
    assert busy.threads == 2
    assert busy.warning() == ("2 threads asked but only 1 core(s) free (1 of 2 cores busy): threads sharing a "
                              "core stall each other, so latencies inflate and ratios may invert")
    assert choose_threads(readings(0.0, 0.0), 2, 2).warning() is None
    assert choose_threads(readings(1.0, 0.0), 1, 2).warning() is None
    assert choose_threads(None, 2, 2).warning() is None  # nothing read, nothing to warn about


@pytest.mark.parametrize(("r", "asked", "setting", "line"), [
    (readings(1.0, 0.0), None, 2, "timed at 1 thread: 1 of 2 cores busy"),
    (readings(0.0, 0.0), None, 2, "timed at 2 threads: all 2 cores free"),
    (readings(1.0, 1.0), None, 2, "timed at 1 thread: 2 of 2 cores busy"),
    (readings(0.0, 0.0, quota=1.5), None, 2, "timed at 1 thread: cgroup CPU quota 1.5 CPUs"),
    (readings(0.0, machine=4), None, 4, "timed at 1 thread: affinity allows 1 of 4 cores"),
    (readings(*[0.0] * 16), None, 8, "timed at 8 threads: torch set to 8 threads (16 cores free)"),
    (readings(1.0, 0.0), 2, 2, "timed at 2 threads, as asked (1 of 2 cores busy)"),
    (readings(0.0, 0.0, quota=1.5), 2, 2, "timed at 2 threads, as asked (0 of 2 cores busy, quota 1.5 CPUs)"),
    (None, 1, 2, "timed at 1 thread, as asked"),
    (CpuReadings(allowed=2, machine=2), None, 2, "timed at 2 threads: load unknown (no /proc/stat)"),
])
def test_the_footer_line_says_how_many_threads_and_why(r, asked, setting, line):
    assert choose_threads(r, asked, setting).describe() == line


def test_cgroup_files_are_parsed():
    assert parse_cpu_max("150000 100000\n") == 1.5
    assert parse_cpu_max("max 100000\n") is None
    assert parse_cfs("-1\n", "100000\n") is None
    assert parse_cfs("200000\n", "100000\n") == 2.0


def test_cgroup_v2_quota_is_the_tightest_up_the_tree(tmp_path):
    (tmp_path / "job" / "step").mkdir(parents=True)
    (tmp_path / "job" / "cpu.max").write_text("150000 100000\n")
    (tmp_path / "job" / "step" / "cpu.max").write_text("max 100000\n")
    membership = tmp_path / "cgroup"
    membership.write_text("0::/job/step\n")
    assert cgroup_quota(tmp_path, membership) == 1.5


def test_cgroup_v1_quota_and_a_container_mounted_at_its_own_root(tmp_path):
    cpu = tmp_path / "cpu,cpuacct"
    cpu.mkdir()
    (cpu / "cpu.cfs_quota_us").write_text("250000\n")
    (cpu / "cpu.cfs_period_us").write_text("100000\n")
    membership = tmp_path / "cgroup"
    membership.write_text("4:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n")  # the path is outside the mount
    assert cgroup_quota(tmp_path, membership) == 2.5
    (cpu / "cpu.cfs_quota_us").write_text("-1\n")
    assert cgroup_quota(tmp_path, membership) is None
    assert cgroup_quota(tmp_path, tmp_path / "missing") is None


def test_the_reader_returns_one_share_per_allowed_core():
    r = read_cpu_free(window=0.05)
    assert r.allowed >= 1 and r.machine >= r.allowed
    assert len(r.busy) in (0, r.allowed) and all(0.0 <= share <= 1.0 for share in r.busy)
    assert 1 <= r.free <= r.allowed
