"""The result format's one definition (bench/results/schema.py): every field described with a unit, the writer's
fields among them, version-1 files still read, a version this build does not know refused in one line."""

import json

import pytest

from analysis.load import load_frame
from bench.results.reader import ResultFileError, read_result_file
from bench.results.schema import (READ_FIELDS, READABLE_SCHEMA_VERSIONS, RECORD_FIELDS, RUN_FIELDS, SCHEMA_VERSION,
                                  WRITTEN_FIELDS)
from tests import result_files as rf


def test_every_field_has_a_unit_and_a_meaning():
    for name, field in {**RECORD_FIELDS, **{f"run.{k}": v for k, v in RUN_FIELDS.items()}}.items():
        assert field.unit and field.meaning, name
    assert set(WRITTEN_FIELDS) <= set(RECORD_FIELDS) and set(READ_FIELDS) <= set(RECORD_FIELDS)
    assert SCHEMA_VERSION == max(READABLE_SCHEMA_VERSIONS)


def test_a_version_1_file_still_loads(tmp_path):
    path = tmp_path / "v1.json"
    data = rf.result([rf.record(rf.case_fields(0), [0.010, 0.011, 0.012])])
    assert data["run"]["schema_version"] == 1  # what the first files carried, without the fields added since
    rf.write(path, data)
    assert read_result_file(path)["benchmarks"][0]["extra_info"]["api"] == "fsdp1"
    frame = load_frame(path)
    assert len(frame) == 1 and frame["median_s"].iloc[0] == pytest.approx(0.011)


def test_an_unknown_version_is_refused_in_one_line(tmp_path):
    path = tmp_path / "v9.json"
    data = rf.result([rf.record(rf.case_fields(0), [0.010])])
    data["run"]["schema_version"] = 9
    path.write_text(json.dumps(data))
    refusal = r"schema_version 9 is not one this version of statedict-bench reads \(1, 2\)"
    with pytest.raises(ResultFileError, match=refusal):
        read_result_file(path)
