"""The shared CLI pieces of gmmseg.cli._common: the -k type, the stem rule, the summary printer, batches."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from gmmseg.cli._common import ComponentsType, echo_summary, output_stems, run_batch
from gmmseg.errors import FailedItem, InputError


def _echo_k(kind: ComponentsType):
    @click.command()
    @click.option("-k", "k", type=kind, default="4")
    def command(k):
        click.echo(json.dumps(k))

    return command


@pytest.mark.parametrize(("text", "expected"), [("4", 4), (" 12 ", 12), ("auto", "auto"), ("AUTO", "auto"), ("1", 1)])
def test_components_type_reads_a_count_or_auto(text, expected):
    result = CliRunner().invoke(_echo_k(ComponentsType()), ["-k", text])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0", "at least 1"),
        ("-2", "at least 1"),
        ("four", "not a number"),
        ("2.5", "not a number"),
        ("", "not a number"),
    ],
)
def test_components_type_rejects_other_values_as_usage_errors(text, message):
    result = CliRunner().invoke(_echo_k(ComponentsType()), ["-k", text])
    assert result.exit_code == 2
    assert message in result.output and "-k" in result.output


def test_components_type_without_auto_rejects_auto():
    result = CliRunner().invoke(_echo_k(ComponentsType(auto=False)), ["-k", "auto"])
    assert result.exit_code == 2 and "not a number" in result.output


@pytest.mark.parametrize(
    ("text", "expected"), [("4", [4]), ("1-5", [1, 2, 3, 4, 5]), ("8,2,4,2", [2, 4, 8]), ("3-3", [3])]
)
def test_components_type_with_lists_reads_ranges_and_lists(text, expected):
    result = CliRunner().invoke(_echo_k(ComponentsType(auto=False, lists=True)), ["-k", text])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == expected


@pytest.mark.parametrize(("text", "message"), [("5-3", "at least 1"), ("0-2", "at least 1"), ("1-x", "not a number")])
def test_components_type_with_lists_rejects_empty_or_bad_ranges(text, message):
    result = CliRunner().invoke(_echo_k(ComponentsType(auto=False, lists=True)), ["-k", text])
    assert result.exit_code == 2 and message in result.output


def test_components_type_names_its_forms_in_the_help():
    assert "N|auto" in CliRunner().invoke(_echo_k(ComponentsType()), ["--help"]).output
    assert (
        "N|LOW-HIGH|N,N,..." in CliRunner().invoke(_echo_k(ComponentsType(auto=False, lists=True)), ["--help"]).output
    )


def test_output_stems_keep_unique_stems_and_number_collisions_past_taken_names():
    # the case both old rules got wrong: two "part" files and a "part_2"/"part-2" beside them
    assert output_stems(["a/part.png", "b/part.png", "c/part-2.png"]) == ["part-1", "part-3", "part-2"]
    assert output_stems(["a/part.png", "b/part.png", "c/part_2.png"]) == ["part-1", "part-2", "part_2"]
    assert output_stems(["x.png", "y.jpg", "x.jpg"]) == ["x-1", "y", "x-2"]
    assert output_stems(["Photo.PNG", "photo.png"]) == ["Photo-1", "photo-2"]
    assert output_stems([Path("only.tif")]) == ["only"]
    assert output_stems([".png"]) == [".png"]  # a dot file's stem is its name
    assert output_stems([]) == []


_PART = st.sampled_from(["part", "Part", "part-1", "part-2", "part_2", "a", "a-1", "img"])
_PATHS = st.lists(
    st.tuples(st.sampled_from(["", "x/", "y/z/"]), _PART, st.sampled_from([".png", ".jpg", ".PNG"])).map("".join),
    max_size=12,
)


@given(_PATHS)
def test_output_stems_are_distinct_stable_and_named_after_their_input(paths):
    stems = output_stems(paths)
    assert len(stems) == len(paths)
    assert len({s.casefold() for s in stems}) == len(stems)  # distinct, even on case-insensitive file systems
    assert output_stems(list(paths)) == stems  # a function of the paths alone
    for path, stem in zip(paths, stems):
        own = Path(path).stem
        assert stem == own or (stem.startswith(own + "-") and stem[len(own) + 1 :].isdigit())
        shared = sum(Path(p).stem.casefold() == own.casefold() for p in paths)
        assert (stem == own) == (shared == 1)


def test_echo_summary_prints_json_or_key_value_lines():
    data = {"n_rows": 3, "model": {"k": 2, "type": "full"}, "columns": ["a", "b"], "segments": [{"x": 1}]}

    @click.command()
    @click.option("--json", "as_json", is_flag=True)
    @click.option("--custom", is_flag=True)
    def command(as_json, custom):
        echo_summary(data, as_json, lines=["custom line"] if custom else None)

    runner = CliRunner()
    assert json.loads(runner.invoke(command, ["--json"]).output) == data
    assert runner.invoke(command, []).output.splitlines() == [
        "n_rows: 3",
        "model.k: 2",
        "model.type: full",
        "columns: a, b",
        "segments: 1 item(s)",
    ]
    assert runner.invoke(command, ["--custom"]).output == "custom line\n"


def _half(value: int) -> float:
    if value < 0:
        raise InputError(f"negative input {value}; pass a positive number")
    if value == 0:
        raise MemoryError
    return value / 2


def test_run_batch_in_process_turns_expected_failures_into_failed_items():
    outcomes = run_batch(_half, [4, -1, 0, 6], scheduler=None, quiet=True, label="halving")
    assert [item for item, _ in outcomes] == [4, -1, 0, 6]
    assert outcomes[0][1] == 2.0 and outcomes[3][1] == 3.0
    assert isinstance(outcomes[1][1], FailedItem) and outcomes[1][1] == "negative input -1; pass a positive number"
    assert isinstance(outcomes[2][1], FailedItem) and outcomes[2][1].startswith("out of memory on 0")


def test_run_batch_lets_unexpected_errors_through():
    with pytest.raises(ZeroDivisionError):
        run_batch(lambda x: 1 / x, [0], scheduler=None, quiet=True, label="dividing")
