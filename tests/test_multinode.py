"""The benchmark under launchers: two torchrun "nodes" on localhost in one rendezvous, and srun's environment faked
for processes this test starts itself. Each writes one complete result file; no process is left behind."""

import json
import os
import random
import socket
import subprocess
import sys
import uuid

import psutil
import pytest

from bench.worlds.external_pool import launched_meshes
from bench.machine.launch_env import (LAUNCH_CONFIG_VAR, SLURM_PORT_BASE, LaunchError, first_host, read_launch_env,
                              tasks_per_node)
from bench.config.selection import BadInput
from tests.conftest import ROOT, left_running

ROUNDS = ["--min-rounds", "2", "--max-rounds", "2", "--warmup-rounds", "0", "--budget-s", "0", "--ceiling-mib", "8"]
LAUNCH_TIMEOUT_S = 150


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _records(data):
    return {r["extra_info"]["case_id"]: r["extra_info"] for r in data["benchmarks"] + data.get("untimed_cases", [])}


def _launch(commands: list[tuple[list[str], dict[str, str]]]) -> list[subprocess.CompletedProcess]:
    """Start every command at once, wait for all; on a timeout or failure kill each one and all it started (torchrun
    puts its workers in sessions of their own, so a process group would miss them)."""
    procs = [subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for command, env in commands]
    try:
        outputs = [proc.communicate(timeout=LAUNCH_TIMEOUT_S)[0] for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                tree = psutil.Process(proc.pid).children(recursive=True) + [psutil.Process(proc.pid)]
                for process in tree:
                    try:
                        process.kill()
                    except psutil.NoSuchProcess:
                        pass
                proc.wait(timeout=10)
    return [subprocess.CompletedProcess(proc.args, proc.returncode, output) for proc, output in zip(procs, outputs)]


def _launched_pids(run: dict) -> list[int]:
    return run["rank_pids"] + run["launch"]["supervisor_pids"]


def test_two_torchrun_nodes_write_one_complete_file_with_four_ranks_in_every_record(tmp_path):
    path = tmp_path / "multinode.json"
    port = _free_port()
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc-per-node", "2",
                "--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{port}", "--rdzv-id", uuid.uuid4().hex,
                "-m", "bench.worlds.launched", "--model", "dummy", "-k", "null or (fsdp2 and get_model and dsd)",
                *ROUNDS,
                f"--benchmark-json={path}"]
    nodes = _launch([(torchrun, dict(os.environ)), (torchrun, dict(os.environ))])
    for node in nodes:
        assert node.returncode == 0, node.stdout[-3000:]
    data = json.loads(path.read_text())
    records = _records(data)
    # the launched world's two meshes: 1D over the 4 ranks, and 2 nodes x 2 ranks (HSDP's layout)
    assert sorted(r["mesh_shape"] for r in records.values()) == [[2, 2]] * 3 + [[4]] * 3
    for record in records.values():
        assert record["status"] == "ok", record["message"]
        assert record["world_size"] == 4
        assert len(record["rank_times_s"]) == 2 and all(len(row) == 4 for row in record["rank_times_s"])
        assert len(record["peak_rss_bytes"]) == 4 and record["device"] == "cpu" and record["backend"] == "gloo"
    run = data["run"]
    assert run["complete"] is True and run["cases"] == 6 and run["status_counts"] == {"ok": 6}
    assert run["world_starts"] == 1
    launch = run["launch"]
    assert launch["launcher"] == "torchrun" and launch["nnodes"] == 2 and launch["ranks_per_node"] == 2
    assert launch["mesh_shapes"] == [[4], [2, 2]] and launch["lost"] is None
    assert len(set(_launched_pids(run))) == 8 and not left_running(_launched_pids(run))


def _slurm_job_id() -> str:
    """A job id whose derived MASTER_PORT (15000 + its last four digits) is free here."""
    for _ in range(50):
        job_id = random.randrange(1_000_000, 9_999_999)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", SLURM_PORT_BASE + job_id % 10_000))
            except OSError:
                continue
        return str(job_id)
    raise AssertionError("no free port in SLURM's derived range")


def test_srun_environment_runs_and_a_dead_rank_fails_its_case_and_every_later_one(tmp_path):
    path = tmp_path / "srun.json"
    job_id = _slurm_job_id()
    base = {k: v for k, v in os.environ.items() if k not in ("MASTER_ADDR", "MASTER_PORT", "RANK", "WORLD_SIZE")}
    command = [sys.executable, "-m", "bench.worlds.launched", "--model", "dummy", "--fault", "kill:1", *ROUNDS,
               "-k", "null or (fsdp2 and get_model and dsd and sharded)", f"--benchmark-json={path}"]
    tasks = [(command, {**base, "SLURM_PROCID": str(rank), "SLURM_NTASKS": "2", "SLURM_LOCALID": str(rank),
                        "SLURM_NODEID": "0", "SLURM_NNODES": "1", "SLURM_TASKS_PER_NODE": "2",
                        "SLURM_JOB_NODELIST": "localhost", "SLURM_JOB_ID": job_id}) for rank in range(2)]
    rank0, rank1 = _launch(tasks)
    assert rank0.returncode == 1, rank0.stdout[-3000:]  # pytest's: some cases failed
    assert rank1.returncode == 0, rank1.stdout[-3000:]
    data = json.loads(path.read_text())
    outcomes = {case_id: (r["status"], r["message"]) for case_id, r in _records(data).items()}
    assert outcomes["null-noop-mesh2"] == ("ok", "")
    assert outcomes["null-noop-fault_kill-fault_rank_1-mesh2"] == ("error", "rank 1 died: SIGKILL (exit code -9)")
    status, message = outcomes["fsdp2-get_model-sharded-method_dsd-dummy-mesh2"]
    assert status == "error" and message.startswith(
        "the launched world is gone (rank 1 died: SIGKILL (exit code -9)); ranks started by srun cannot be restarted")
    assert all(r["world_size"] == 2 for r in _records(data).values())
    run = data["run"]
    assert run["complete"] is True and run["cases"] == 3 and run["status_counts"] == {"ok": 1, "error": 2}
    assert run["launch"]["launcher"] == "srun" and run["launch"]["lost"].startswith("rank 1 died")
    assert not left_running(_launched_pids(run))


def test_torchrun_environment_is_read():
    launch = read_launch_env({"RANK": "3", "WORLD_SIZE": "8", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2",
                              "GROUP_RANK": "1", "GROUP_WORLD_SIZE": "4", "MASTER_ADDR": "n0", "MASTER_PORT": "29500"})
    assert (launch.launcher, launch.rank, launch.world_size, launch.local_rank, launch.node_rank) == \
        ("torchrun", 3, 8, 1, 1)
    assert launch.mesh_shapes == [(8,), (4, 2)] and (launch.master_addr, launch.master_port) == ("n0", 29500)


def test_slurm_environment_is_read_and_master_address_derived():
    env = {"SLURM_PROCID": "5", "SLURM_NTASKS": "8", "SLURM_LOCALID": "1", "SLURM_NODEID": "1",
           "SLURM_NNODES": "2", "SLURM_TASKS_PER_NODE": "4(x2)", "SLURM_JOB_NODELIST": "gpu[07-08]",
           "SLURM_JOB_ID": "123456"}
    launch = read_launch_env(env)
    assert (launch.launcher, launch.rank, launch.world_size, launch.local_world_size) == ("srun", 5, 8, 4)
    assert (launch.master_addr, launch.master_port) == ("gpu07", 15000 + 3456)
    assert launch.mesh_shapes == [(8,), (2, 4)]
    given = read_launch_env({**env, "MASTER_ADDR": "head", "MASTER_PORT": "4000"})
    assert (given.master_addr, given.master_port) == ("head", 4000)
    uneven = read_launch_env({**env, "SLURM_TASKS_PER_NODE": "5,3"})
    assert uneven.local_world_size is None and uneven.mesh_shapes == [(8,)]  # no 2D mesh of unequal nodes


@pytest.mark.parametrize("nodelist,host", [("node[07-09,12],gpu1", "node07"), ("r[1-2]-n[3-4]", "r1-n3"),
                                           ("localhost", "localhost"), ("a,b[1-2]", "a"), ("n[5]", "n5")])
def test_first_host_of_a_slurm_node_list(nodelist, host):
    assert first_host(nodelist) == host


def test_tasks_per_node_and_bad_environments():
    assert tasks_per_node("2(x3),1") == [2, 2, 2, 1]
    with pytest.raises(LaunchError, match="not started by a launcher"):
        read_launch_env({})
    with pytest.raises(LaunchError, match="SLURM_NTASKS or SLURM_NPROCS is not set"):
        read_launch_env({"SLURM_PROCID": "0", "SLURM_JOB_NODELIST": "n1", "SLURM_JOB_ID": "7"})
    with pytest.raises(LaunchError, match="torchrun restarted the workers"):
        read_launch_env({"RANK": "0", "WORLD_SIZE": "2", "MASTER_ADDR": "h", "MASTER_PORT": "1",
                         "TORCHELASTIC_RESTART_COUNT": "1"})
    with pytest.raises(LaunchError, match="rank 4 is not within world size 4"):
        read_launch_env({"RANK": "4", "WORLD_SIZE": "4", "MASTER_ADDR": "h", "MASTER_PORT": "1"})


def test_under_a_launcher_only_its_meshes_run(monkeypatch):
    assert launched_meshes(["2"], None) == ["2"]  # run directly: nothing changes
    launch = read_launch_env({"RANK": "0", "WORLD_SIZE": "4", "LOCAL_WORLD_SIZE": "2", "GROUP_WORLD_SIZE": "2",
                              "MASTER_ADDR": "h", "MASTER_PORT": "1"})
    monkeypatch.setenv(LAUNCH_CONFIG_VAR, launch.to_json())
    assert launched_meshes([], None) == ["4", "2x2"]
    assert launched_meshes(["2x2"], 4) == ["2x2"]
    with pytest.raises(BadInput, match=r"mesh 2 is not a mesh of the launched world \(4 ranks from torchrun\); "
                                       r"under a launcher only 4, 2x2 can run"):
        launched_meshes(["2"], None)
    with pytest.raises(BadInput, match="--world-size 2 is not the launched world's 4 ranks"):
        launched_meshes([], 2)
