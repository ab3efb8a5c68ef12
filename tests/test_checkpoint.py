"""Checkpoint I/O on CPU/gloo: every save and load path round-trips, resharding loads what another world saved,
phases add up, the folder is removed whatever happens, ceilings are measured and the I/O fields recorded."""

import pytest

import subprocess

from bench.machine.checkpoint_files import files_under
from bench.ops.matrix import RESHARD_PAIRS, Case, checkpoint_cases, reshard_cases
from bench.config.profiles import get_profile
from bench.run.session import BenchSession
from tests.conftest import TEST_ROUNDS

# Three rounds: repeated-save growth needs at least two readings; the uneven model leaves uneven shards.
ROUNDS = TEST_ROUNDS.__class__(warmup_rounds=0, min_rounds=3, max_rounds=3, budget_s=0.0, case_timeout_s=180.0)
IO_FIELDS = ("bytes_written", "files_written", "ceiling", "fraction_of_ceiling", "phases_s", "phase_details_s",
             "phase_medians_s", "phases_cover", "phases_add_up", "rss_after_round_bytes", "rss_growth_per_save_bytes")


@pytest.fixture(scope="module")
def session():
    bench = BenchSession(get_profile("quick"), ROUNDS, ceiling_bytes=8 * 2**20)
    yield bench
    bench.close()
    assert not bench.checkpoint_root.exists()


def test_the_runs_checkpoint_folder_is_private(session):
    assert session.checkpoint_root.stat().st_mode & 0o777 == 0o700


def _case_folders(session) -> list[str]:
    """What is left under the run's checkpoint folder besides the resharding sources, which live for the run."""
    return [p.name for p in session.checkpoint_root.iterdir() if not p.name.startswith("source-")]


@pytest.mark.parametrize("case", [c for c in checkpoint_cases("dummy_uneven", (2,))
                                  if c.options_dict.get("staging") != "pinned"], ids=lambda c: c.id)
def test_every_save_and_load_path_round_trips(session, case):
    record = session.measure(case)
    assert record["status"] == "ok", record["message"]
    assert record["correct"] is True
    assert set(IO_FIELDS) <= set(record)
    assert record["bytes_written"] > 0 and record["files_written"] >= 1
    assert record["ceiling"] in ("write_fsync_gbps", "read_cold_gbps", "read_warm_gbps")
    assert record["fraction_of_ceiling"] > 0
    assert record["options"]["fsync"] is True
    assert record["phases_add_up"] is True, record["phases_cover"]
    assert len(record["rss_after_round_bytes"]) == (5 if case.op in ("save", "async_save") else 3)
    assert _case_folders(session) == [], "the case's folder must be gone after the case"


def test_a_save_is_timed_in_phases_that_cover_the_round(session):
    case = Case(api="dcp", op="save", state_dict_type="sharded", model="transformer_1m", mesh_shape=(2,),
                options=(("single_file_per_rank", True), ("source", "fsdp2"), ("thread_count", 1)))
    record = session.measure(case)
    assert record["status"] == "ok", record["message"]
    assert set(record["phases_s"]) == {"state_dict", "plan", "write", "fsync", "finish", "durable"}
    assert {"local_plan", "global_plan", "metadata"} <= set(record["phase_details_s"])
    for rows in record["phases_s"].values():  # rounds x ranks
        assert len(rows) == 5 and all(len(row) == 2 for row in rows)  # five saves in a row at the least
    for rank, cover in enumerate(record["phases_cover"]):
        assert 0.95 <= cover <= 1.05, (rank, cover)
    assert len(record["rss_growth_per_save_bytes"]) == 2
    assert record["bytes_written"] >= record["bytes_global"]  # data plus metadata
    # /proc/self/io per round and rank: each rank's write() calls carry at least its own shard's bytes
    assert set(record["io_bytes"]) == {"rchar", "wchar", "read_bytes", "write_bytes"}
    for rows in record["io_bytes"].values():
        assert len(rows) == 5 and all(len(row) == 2 and all(v >= 0 for v in row) for row in rows)
    for row in record["io_bytes"]["wchar"]:
        assert all(written >= local for written, local in zip(row, record["bytes_per_rank"])), row


def test_async_save_records_blocking_staging_and_total(session):
    case = Case(api="dcp", op="async_save", state_dict_type="sharded", model="dummy", mesh_shape=(2,),
                options=(("mode", "thread"), ("source", "fsdp2"), ("staging", "default")))
    record = session.measure(case)
    assert record["status"] == "ok", record["message"]
    assert set(record["phases_s"]) == {"state_dict", "blocking", "upload", "durable"}
    assert 0 < record["blocking_median_s"] < record["stats"]["median_s"]
    assert record["staging_median_s"] is not None and record["staging_median_s"] > 0
    assert {"upload.plan", "upload.write", "upload.fsync"} <= set(record["phase_details_s"])


def test_pinned_staging_without_cuda_is_unsupported_with_torchs_message(session):
    case = Case(api="dcp", op="async_save", state_dict_type="sharded", model="dummy", mesh_shape=(2,),
                options=(("mode", "thread"), ("source", "fsdp2"), ("staging", "pinned")))
    record = session.measure(case)
    assert record["status"] == "unsupported"
    assert "requires CUDA" in record["message"]


def test_cold_loads_read_from_disk_and_warm_ones_from_the_page_cache(session):
    records = {cache: session.measure(Case(api="dcp", op="load", state_dict_type="sharded", model="dummy",
                                           mesh_shape=(2,), options=(("page_cache", cache), ("source", "fsdp2"))))
               for cache in ("cold", "warm")}
    assert records["cold"]["resident_before_read"] == 0.0
    assert records["warm"]["resident_before_read"] == 1.0
    assert records["warm"]["ceiling"] == "read_warm_gbps"


@pytest.mark.parametrize("saved_on,loaded_on", RESHARD_PAIRS, ids=lambda mesh: "x".join(map(str, mesh)))
def test_resharding_loads_what_another_world_size_saved(session, saved_on, loaded_on):
    [case] = reshard_cases("dummy_uneven", loaded_on, [saved_on])
    record = session.measure(case)
    assert record["status"] == "ok", record["message"]
    assert record["correct"] is True
    assert record["world_size"] == len(record["rank_times_s"][0])


@pytest.mark.parametrize("case", reshard_cases("dummy", (2,), [(4,)]) + [
    c for c in checkpoint_cases("dummy", (2,)) if c.op == "load"], ids=lambda c: c.id)
def test_the_load_check_fails_when_nothing_is_loaded(session, case, tmp_path):
    spec = case.as_spec()
    if case.options_dict.get("saved_on"):
        spec["source_checkpoint"] = str(session.source_checkpoint("dummy", (4,)))
    spec.update(checkpoint_dir=str(tmp_path), fsync=True)
    results = session.pool.get((2,)).call("tests.rank_checks:verify_without_loading", spec=spec)
    assert [correct for correct, _ in results] == [False, False]


def test_the_folder_is_removed_after_a_failing_case(session):
    case = Case(api="null", op="noop", state_dict_type=None, mesh_shape=(2,),
                options=(("fault", "raise"), ("fault_rank", 1)))
    record = session.measure(case)
    assert record["status"] == "error"
    assert _case_folders(session) == []


def test_ceilings_are_measured_and_positive(session):
    ceilings = session.run_info["ceilings"]
    for name in ("memcpy_gbps", "write_fsync_gbps", "write_buffered_gbps", "read_cold_gbps", "read_warm_gbps"):
        assert ceilings[name] > 0, ceilings
    assert ceilings["bytes"] == 8 * 2**20
    assert session.run_info["checkpoint"] == {"folder": str(session.checkpoint_root), "fsync": True}


@pytest.fixture
def tiny_disk(tmp_path):
    """A 1 MiB tmpfs: a real full disk for a checkpoint of several MB."""
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount_point)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_a_full_disk_fails_the_case_with_its_message_and_the_run_goes_on(tiny_disk):
    bench = BenchSession(get_profile("quick"), ROUNDS, checkpoint_parent=str(tiny_disk), ceiling_bytes=8 * 2**20)
    try:
        assert "No space left on device" in bench.run_info["ceilings"]["file_error"]
        for case in (Case(api="torch_save", op="save", state_dict_type="sharded", model="mlp_1m", mesh_shape=(1,),
                          options=(("layout", "per_rank"), ("source", "fsdp2"))),
                     Case(api="dcp", op="save", state_dict_type="sharded", model="mlp_1m", mesh_shape=(1,),
                          options=(("single_file_per_rank", True), ("source", "fsdp2"), ("thread_count", 1)))):
            save = bench.measure(case)
            assert save["status"] == "error"
            assert save["message"].startswith("the checkpoint folder's filesystem is full"), save["message"]
        after = bench.measure(Case(api="null", op="noop", state_dict_type=None, mesh_shape=(1,)))
        assert after["status"] == "ok"
        assert files_under(tiny_disk) == []
    finally:
        bench.close()
    assert list(tiny_disk.iterdir()) == []
