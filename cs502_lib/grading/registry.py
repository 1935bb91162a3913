"""The one registry of graded items: name -> assignment, check, points (public and hidden), reference.

Everything that needs to know what is graded reads it: the test cells (through
:mod:`cs502_lib.testcell`), the instructor's workflow (:mod:`cs502_lib.course`), the
clean verdicts (:mod:`cs502_lib.grading.verdict`), the assignment builder and the tests.

Conventions every assignment follows (the nbgrader ``grade_id`` of each cell):

* the solution cell of a graded name has ``grade_id == name``;
* its public test cell is ``test_<name>`` (``points``), its hidden tests ``hidden_<name>`` (``hidden_points``);
* the notebook is ``solutions/<assignment>/<assignment>.ipynb`` (and the same under ``exercises/``);
* the check ``check_<...>`` and the hidden suite ``hidden_<name>(ctx, impl)`` are defined together in
  ``cs502_lib/grading/<module>.py`` (``module`` defaults to the assignment's name).

So a new graded function is one line here, its cells in ``assignments/<assignment>.py`` and its check and
hidden suite in its module: :mod:`cs502_lib.grading` exports every check listed here, and
:func:`cs502_lib.grading.hidden.run_hidden` finds every hidden suite through this registry.

This module imports nothing of cs502_lib: the checks, suites and references are resolved on demand.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

__all__ = ["GradedItem", "ASSIGNMENTS", "ITEMS", "item", "items", "by_cell", "CHECKS"]


@dataclass(frozen=True)
class GradedItem:
    """One graded function or class of an assignment."""

    name: str  #: the contract name, also the grade_id of its solution cell
    assignment: str  #: the assignment folder
    check: str  #: the check in :mod:`cs502_lib.grading` (``check_<...>``)
    points: int  #: points of the public test cell ``test_<name>``
    hidden_points: int  #: points of the hidden tests ``hidden_<name>``
    reference: str  #: ``module:attribute`` of cs502_lib's reference implementation
    kind: str = "function"  #: "function" or "class" (the check instantiates a class itself)
    module: str = ""  #: the module of :mod:`cs502_lib.grading` with its check and hidden suite (default: assignment)

    @property
    def test_cell(self) -> str:
        return f"test_{self.name}"

    @property
    def hidden_cell(self) -> str:
        return f"hidden_{self.name}"

    @property
    def cells(self) -> dict[str, int]:
        """grade_id -> points of the two autograded cells of this item."""
        return {self.test_cell: self.points, self.hidden_cell: self.hidden_points}

    @property
    def module_name(self) -> str:
        """The full name of the module that holds ``check_<...>`` and ``hidden_<name>``."""
        return f"cs502_lib.grading.{self.module or self.assignment}"

    def check_object(self):
        """The public check of this item (its module imported on demand)."""
        return getattr(importlib.import_module(self.module_name), self.check)

    def hidden_suite(self):
        """The body ``hidden_<name>(ctx, impl)`` of this item's hidden tests, defined next to its check."""
        return getattr(importlib.import_module(self.module_name), self.hidden_cell)

    def reference_object(self):
        """cs502_lib's reference of this name (imported on demand)."""
        module, attr = self.reference.split(":")
        return getattr(importlib.import_module(module), attr)


#: The assignments of the course, in teaching order.
ASSIGNMENTS: tuple[str, ...] = ("rnn_lstm", "attention", "positions_masks", "transformer", "dnabert")

ITEMS: tuple[GradedItem, ...] = (
    GradedItem("rnn_cell", "rnn_lstm", "check_rnn_cell", 3, 1, "cs502_lib.nn.rnn:rnn_cell"),
    GradedItem("lstm_cell", "rnn_lstm", "check_lstm_cell", 4, 1, "cs502_lib.nn.rnn:lstm_cell"),
    GradedItem("scaled_dot_product_attention", "attention", "check_scaled_dot_product_attention", 4, 1,
               "cs502_lib.nn.attention:scaled_dot_product_attention"),
    GradedItem("MultiHeadAttention", "attention", "check_multi_head_attention", 5, 1,
               "cs502_lib.nn.attention:MultiHeadAttention", kind="class"),
    GradedItem("sinusoidal_positional_encoding", "positions_masks", "check_positional_encoding", 3, 1,
               "cs502_lib.nn.positional:sinusoidal_positional_encoding"),
    GradedItem("causal_mask", "positions_masks", "check_causal_mask", 2, 1, "cs502_lib.nn.positional:causal_mask"),
    GradedItem("padding_mask", "positions_masks", "check_padding_mask", 2, 1, "cs502_lib.nn.positional:padding_mask"),
    GradedItem("EncoderLayer", "transformer", "check_encoder_layer", 5, 1, "cs502_lib.nn.transformer:EncoderLayer",
               kind="class"),
    GradedItem("DecoderLayer", "transformer", "check_decoder_layer", 5, 1, "cs502_lib.nn.transformer:DecoderLayer",
               kind="class"),
    GradedItem("transcribe", "dnabert", "check_transcribe", 2, 1, "cs502_lib.bio.sequences:transcribe",
               module="strings"),
    GradedItem("translate", "dnabert", "check_translate", 3, 1, "cs502_lib.bio.sequences:translate",
               module="strings"),
    GradedItem("kmer_tokenize", "dnabert", "check_kmer_tokenize", 2, 1, "cs502_lib.bio.kmers:kmer_tokenize",
               module="strings"),
    GradedItem("build_kmer_vocab", "dnabert", "check_kmer_vocab", 2, 1, "cs502_lib.bio.kmers:build_kmer_vocab",
               module="strings"),
    GradedItem("span_mask", "dnabert", "check_span_mask", 4, 1, "cs502_lib.bio.masking:span_mask",
               module="masking"),
)

_BY_NAME = {it.name: it for it in ITEMS}

#: Graded name -> the name of its check in :mod:`cs502_lib.grading`.
CHECKS: dict[str, str] = {it.name: it.check for it in ITEMS}


def item(name: str) -> GradedItem:
    """The graded item called ``name``; KeyError naming the graded names otherwise."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"{name!r} is not a graded name; graded names: {', '.join(_BY_NAME)}") from None


def items(assignment: str | None = None) -> list[GradedItem]:
    """The graded items of ``assignment`` (all of them if None), in notebook order."""
    if assignment is not None and assignment not in ASSIGNMENTS:
        raise KeyError(f"unknown assignment {assignment!r}; assignments: {', '.join(ASSIGNMENTS)}")
    return [it for it in ITEMS if assignment is None or it.assignment == assignment]


def by_cell(grade_id: str) -> GradedItem | None:
    """The graded item whose test cell (``test_<name>`` or ``hidden_<name>``) is ``grade_id``."""
    for prefix in ("test_", "hidden_"):
        if grade_id.startswith(prefix) and grade_id[len(prefix):] in _BY_NAME:
            return _BY_NAME[grade_id[len(prefix):]]
    return None
