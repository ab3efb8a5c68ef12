"""The metrics registry (bench/metrics): each metric's fields described by the schema with their units, its meter
reading what it says, and the record built from every metric's per-round values in the ranks' replies."""

import time

from bench.metrics import JUDGED, METRICS, check_judged
from bench.metrics.cpu import CpuMeter
from bench.metrics.io import IO_FIELDS, IoMeter
from bench.results.schema import RECORD_FIELDS
from tests.test_record import _record, _reply
from bench.results.outcome import CaseOutcome


def test_every_metrics_fields_are_in_the_schema_with_its_unit():
    for metric in METRICS:
        for name, (unit, meaning) in metric.fields.items():
            assert RECORD_FIELDS[name].unit == unit and RECORD_FIELDS[name].meaning == meaning
    assert list(JUDGED) == ["wall", "cpu", "instructions"]
    assert check_judged("cpu").round_field == "round_cpu_s"


def test_cpu_meter_sees_work_and_not_sleep():
    meter = CpuMeter()
    meter.start()
    time.sleep(0.2)
    slept = meter.stop()
    meter.start()
    began = time.process_time()  # 0.2 s of this process's own CPU, however busy the machine is
    while time.process_time() - began < 0.2:
        pass
    busy = meter.stop()
    assert slept < 0.05 and busy > 0.15


def test_io_meter_counts_a_write(tmp_path):
    meter = IoMeter()
    meter.start()
    (tmp_path / "file").write_bytes(b"x" * 100_000)
    counted = meter.stop()
    assert set(counted) == set(IO_FIELDS) and counted["wchar"] >= 100_000


def test_the_record_reduces_each_number_metric_per_round_and_keeps_counters_by_rank():
    replies = [_reply(0, [0.1, 0.3]), _reply(1, [0.2, 0.1])]
    replies[0].update(cpu_s=[0.05, 0.2], io_bytes=[{"wchar": 1}, {"wchar": 2}], instructions=[None, None])
    replies[1].update(cpu_s=[0.1, 0.1], io_bytes=[{"wchar": 3}, {"wchar": 4}], instructions=[None, None])
    record = _record(CaseOutcome("ok", "", replies))
    assert record["rank_cpu_s"] == [[0.05, 0.1], [0.2, 0.1]] and record["round_cpu_s"] == [0.1, 0.2]
    assert record["cpu_stats"]["rounds"] == 2
    assert record["io_bytes"] == {"wchar": [[1, 3], [2, 4]]}
    # outside instructions mode the counter reads nothing: its fields stay null, as in an untimed record
    assert record["rank_instructions"] is None and record["instructions_stats"] is None
