"""k-mer tokens for DNA, as in DNABERT.

A sequence of n bases becomes its n - k + 1 *overlapping* k-mers (a window of k
bases moved one base at a time)::

    >>> kmer_tokenize("ACGTAC", 3)
    ['ACG', 'CGT', 'GTA', 'TAC']

The vocabulary (:func:`build_kmer_vocab`) has five special tokens first, then all
4**k k-mers in lexicographic order over "ACGT"::

    [PAD]=0  [UNK]=1  [CLS]=2  [SEP]=3  [MASK]=4  AAA..A=5  AAA..C=6  ...  TTT..T=4**k+4

Lexicographic order over "ACGT" is the order of the k-mer read as a base-4
number with A=0, C=1, G=2, T=3. So the id of the k-mer starting at base i is

    id_i = 5 + sum_j code[i + j] * 4**(k - 1 - j),

and :class:`KmerTokenizer` computes all of them at once with k vectorized
multiply-adds over the array of base codes (a rolling base-4 number) instead of
slicing strings and looking them up one by one. That is what makes tokenizing
the whole 4.9 Mb E. coli genome take a fraction of a second.

Ids back to bases: :func:`kmer_bases` gives the k base codes inside each id
(what a per-base output head or a compositional k-mer embedding needs).
"""

from __future__ import annotations

import functools
import itertools
from typing import Sequence

import numpy as np
import torch

from .._validation import require_positive_int
from .sequences import BASES, dna_codes

__all__ = [
    "PAD_ID",
    "UNK_ID",
    "CLS_ID",
    "SEP_ID",
    "MASK_ID",
    "SPECIAL_TOKENS",
    "NUM_SPECIAL",
    "NO_BASE",
    "MAX_K",
    "kmer_tokenize",
    "build_kmer_vocab",
    "kmer_ids",
    "kmer_bases",
    "KmerTokenizer",
]

PAD_ID, UNK_ID, CLS_ID, SEP_ID, MASK_ID = 0, 1, 2, 3, 4
#: The special tokens, index = id.
SPECIAL_TOKENS: tuple[str, ...] = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
#: Number of special tokens; the first k-mer (all A) has this id.
NUM_SPECIAL = len(SPECIAL_TOKENS)
#: What :func:`kmer_bases` returns for the bases of a special token.
NO_BASE = -1
#: Longest k for which every k-mer id fits in int64.
MAX_K = 31


def _require_k(k: object) -> int:
    return require_positive_int("k", k)


def kmer_tokenize(seq: str, k: int) -> list[str]:
    """The overlapping k-mers of a DNA sequence, upper-cased.

    Args:
        seq: DNA letters A/C/G/T, either case.
        k: k-mer length, >= 1.

    Returns:
        ``len(seq) - k + 1`` strings of length k; the i-th is ``seq[i:i+k].upper()``.

    Raises:
        ValueError: if k is not a positive integer, ``seq`` holds a letter other than
        A/C/G/T (the message gives the letter and its position), or ``len(seq) < k``.

    Example:
        >>> kmer_tokenize("acgtA", 3)
        ['ACG', 'CGT', 'GTA']
    """
    k = _require_k(k)
    dna_codes(seq, "seq")
    if len(seq) < k:
        raise ValueError(f"seq has {len(seq)} bases, fewer than k={k}: it has no {k}-mer")
    upper = seq.upper()
    return [upper[i : i + k] for i in range(len(upper) - k + 1)]


@functools.lru_cache(maxsize=8)
def _vocab(k: int) -> dict[str, int]:
    vocab = {token: i for i, token in enumerate(SPECIAL_TOKENS)}
    for i, letters in enumerate(itertools.product(BASES, repeat=k)):
        vocab["".join(letters)] = NUM_SPECIAL + i
    return vocab


def build_kmer_vocab(k: int) -> dict[str, int]:
    """Token -> id for k-mers: the 5 special tokens, then all 4**k k-mers.

    ``[PAD]``=0, ``[UNK]``=1, ``[CLS]``=2, ``[SEP]``=3, ``[MASK]``=4, then the k-mers in
    lexicographic order over "ACGT" from id 5 (``"A"*k`` = 5, ``"T"*k`` = 4**k + 4).

    Returns a new dict each call (safe to modify). Raises ValueError if k < 1.
    """
    return dict(_vocab(_require_k(k)))


def kmer_ids(codes: torch.Tensor | np.ndarray, k: int) -> torch.Tensor:
    """Vocabulary id of every k-base window of base-code sequences (no special tokens).

    Computed as a rolling base-4 number: ``k`` vectorized multiply-adds, no loop over bases.

    Args:
        codes: integer tensor or array ``(..., N)`` of base codes A=0, C=1, G=2, T=3
            (as returned by :func:`cs502_lib.bio.sequences.dna_codes`). Values are not
            checked here (callers validate letters when they make the codes).
        k: k-mer length, 1 <= k <= N.

    Returns:
        LongTensor ``(..., N - k + 1)``: ``out[..., i]`` is the id of the k-mer starting at
        base i, equal to ``build_kmer_vocab(k)[kmer_tokenize(seq, k)[i]]``.
    """
    k = _require_k(k)
    if isinstance(codes, np.ndarray):
        if codes.dtype.kind not in "iu":
            raise ValueError(f"codes must hold integer base codes, got dtype {codes.dtype}")
    elif isinstance(codes, torch.Tensor):
        if codes.dtype.is_floating_point or codes.dtype.is_complex or codes.dtype == torch.bool:
            raise ValueError(f"codes must hold integer base codes, got dtype {codes.dtype}")
    else:
        raise ValueError(f"codes must be a torch.Tensor or numpy array, got {type(codes).__name__}")
    if codes.ndim < 1:
        raise ValueError("codes must have at least 1 dimension (..., N)")
    if k > MAX_K:
        raise ValueError(f"k={k} is too large: ids of k-mers longer than {MAX_K} do not fit in int64")
    n = codes.shape[-1]
    if n < k:
        raise ValueError(f"codes has {n} bases, fewer than k={k}")
    windows = n - k + 1
    # A rolling base-4 number, updated in place (shift by one base = multiply by 4).
    if isinstance(codes, np.ndarray):
        # NumPy path (codes made from a str): work in the narrowest unsigned type that holds
        # every id, then widen once; NumPy's allocator makes that last big copy cheap.
        top = NUM_SPECIAL + 4**k - 1
        work = np.uint16 if top < 2**16 else np.uint32 if top < 2**32 else np.uint64
        ids = codes[..., 0:windows].astype(work)  # a copy: the input is never modified
        for j in range(1, k):
            ids <<= 2
            np.bitwise_or(ids, codes[..., j : j + windows], out=ids, casting="unsafe")
        out = np.empty(ids.shape, dtype=np.int64)
        np.add(ids, NUM_SPECIAL, out=out, casting="unsafe")  # shift past the specials and widen, one pass
        return torch.from_numpy(out)
    # Torch path (codes already a tensor, possibly on a GPU); int32 suffices up to k=15.
    work = torch.int32 if k <= 15 else torch.int64
    ids = codes[..., 0:windows].to(work, copy=True)
    for j in range(1, k):
        ids.mul_(4).add_(codes[..., j : j + windows])
    return ids.to(torch.int64).add_(NUM_SPECIAL)


def kmer_bases(ids: torch.Tensor, k: int) -> torch.Tensor:
    """The base codes inside k-mer ids.

    Args:
        ids: integer tensor of any shape ``(...)`` holding ids of :func:`build_kmer_vocab`.
        k: k-mer length.

    Returns:
        LongTensor ``(..., k)``: ``out[..., j]`` is the code (A=0, C=1, G=2, T=3) of base j
        of the k-mer; :data:`NO_BASE` (-1) in all k places for the special tokens
        ([PAD], [UNK], [CLS], [SEP], [MASK]).

    Raises:
        ValueError: for a non-integer tensor, or (for a CPU tensor) ids outside ``[0, 4**k + 5)``.
    """
    k = _require_k(k)
    if not isinstance(ids, torch.Tensor):
        raise ValueError(f"ids must be a torch.Tensor, got {type(ids).__name__}")
    if ids.dtype.is_floating_point or ids.dtype.is_complex or ids.dtype == torch.bool:
        raise ValueError(f"ids must be an integer tensor, got dtype {ids.dtype}")
    ids = ids.long()
    vocab_size = NUM_SPECIAL + 4**k
    # Range check on the CPU only: on a GPU it would cost a synchronization in every forward pass.
    if ids.device.type == "cpu" and ids.numel() and bool(((ids < 0) | (ids >= vocab_size)).any()):
        bad = ids[(ids < 0) | (ids >= vocab_size)][0].item()
        raise ValueError(f"ids holds {bad}, outside the {k}-mer vocabulary [0, {vocab_size})")
    value = (ids - NUM_SPECIAL).clamp_min(0)
    shifts = 2 * torch.arange(k - 1, -1, -1, device=ids.device)
    bases = (value.unsqueeze(-1) >> shifts) & 3
    return bases.masked_fill((ids < NUM_SPECIAL).unsqueeze(-1), NO_BASE)


class KmerTokenizer:
    """Fast k-mer tokenizer with the ids of :func:`build_kmer_vocab`.

    Args:
        k: k-mer length (DNABERT uses 3 to 6).

    Attributes:
        k: the k-mer length.
        vocab_size: ``4**k + 5``.
        vocab: token -> id dict (built on first use).

    Example:
        >>> tok = KmerTokenizer(3)
        >>> tok.encode("ACGTA").tolist()      # [CLS] ACG CGT GTA [SEP]
        [2, 11, 32, 49, 3]
        >>> tok.decode(tok.encode("ACGTA"))
        'ACGTA'
    """

    def __init__(self, k: int) -> None:
        self.k = _require_k(k)
        self.vocab_size = NUM_SPECIAL + 4**self.k

    def __repr__(self) -> str:
        return f"KmerTokenizer(k={self.k}, vocab_size={self.vocab_size})"

    @property
    def vocab(self) -> dict[str, int]:
        return build_kmer_vocab(self.k)

    def id_to_token(self, i: int) -> str:
        """The token string of one id."""
        if not 0 <= i < self.vocab_size:
            raise ValueError(f"id {i} is outside the vocabulary [0, {self.vocab_size})")
        if i < NUM_SPECIAL:
            return SPECIAL_TOKENS[i]
        return "".join(BASES[b] for b in kmer_bases(torch.tensor(i), self.k).tolist())

    # ---- encoding -------------------------------------------------------------------------

    def kmer_ids(self, seq_codes: torch.Tensor | np.ndarray) -> torch.Tensor:
        """k-mer ids of every window of base codes ``(..., N)`` -> LongTensor ``(..., N-k+1)``."""
        return kmer_ids(seq_codes, self.k)

    def genome_ids(self, seq: str) -> torch.Tensor:
        """k-mer id of every window of a (long) DNA string, no special tokens.

        Args:
            seq: DNA letters A/C/G/T, either case (for example :func:`cs502_lib.data.load_genome`).

        Returns:
            LongTensor ``(len(seq) - k + 1,)``.
        """
        codes = dna_codes(seq, "seq")
        if codes.size < self.k:
            raise ValueError(f"seq has {codes.size} bases, fewer than k={self.k}: it has no {self.k}-mer")
        return kmer_ids(codes, self.k)

    def encode(self, seq: str, add_special_tokens: bool = True) -> torch.Tensor:
        """Token ids of one sequence.

        Returns:
            LongTensor ``(len(seq) - k + 1 + 2,)`` = ``[CLS] k-mers... [SEP]``, or without the
            two special tokens when ``add_special_tokens=False``.
        """
        ids = self.genome_ids(seq)
        if add_special_tokens:
            ids = torch.cat([ids.new_tensor([CLS_ID]), ids, ids.new_tensor([SEP_ID])])
        return ids

    def encode_batch(
        self, seqs: Sequence[str], max_len: int | None = None, add_special_tokens: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Token ids of several sequences, padded with ``[PAD]`` to a common length.

        Args:
            seqs: DNA strings (A/C/G/T, either case), each at least k long; lengths may differ.
            max_len: if given, at most this many tokens per row *including* ``[CLS]``/``[SEP]``:
                longer sequences keep their first k-mers and still end in ``[SEP]``.
            add_special_tokens: put ``[CLS]`` first and ``[SEP]`` after the last k-mer.

        Returns:
            ``(ids, attention_mask)``: LongTensor ``(B, L)`` and BoolTensor ``(B, L)``
            (True = a real token, special tokens included; False = padding), where L is the
            longest row's token count, capped at ``max_len``.

        Raises:
            ValueError: for an empty batch, a non-str item, an invalid letter (naming
            ``seqs[i]`` and the position), a sequence shorter than k, or a ``max_len`` too
            small to hold one k-mer (plus the two special tokens).
        """
        if isinstance(seqs, str) or not isinstance(seqs, Sequence):
            raise ValueError("seqs must be a list (or tuple) of DNA strings; for one string use encode()")
        if len(seqs) == 0:
            raise ValueError("seqs is empty")
        n_special = 2 if add_special_tokens else 0
        if max_len is not None:
            require_positive_int("max_len", max_len)
            if max_len < n_special + 1:
                raise ValueError(
                    f"max_len={max_len} leaves no room for a k-mer besides [CLS] and [SEP]; use max_len >= 3"
                )
        k = self.k
        for i, seq in enumerate(seqs):
            if not isinstance(seq, str):
                raise ValueError(f"seqs[{i}] must be a str, got {type(seq).__name__}")
        lengths = np.fromiter((len(seq) for seq in seqs), dtype=np.int64, count=len(seqs))
        short = np.flatnonzero(lengths < k)
        if short.size:
            i = int(short[0])
            raise ValueError(f"seqs[{i}] has {lengths[i]} bases, fewer than k={k}: it has no {k}-mer")
        # Check and convert all sequences at once; on failure, find the culprit one by one.
        try:
            flat = dna_codes("".join(seqs), "seqs")
        except ValueError:
            for i, seq in enumerate(seqs):
                dna_codes(seq, f"seqs[{i}]")
            raise
        # One padded matrix of base codes (B, width_bases), then all k-mer ids in one pass.
        n_kmers = lengths - k + 1
        if max_len is not None:
            n_kmers = np.minimum(n_kmers, max_len - n_special)
        width_bases = int(n_kmers.max()) + k - 1
        if (lengths == lengths[0]).all():  # the usual case: one length, a plain reshape
            matrix = flat.reshape(len(seqs), -1)[:, :width_bases]
        else:
            starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
            cols = np.arange(width_bases)
            inside = cols < np.minimum(lengths, width_bases)[:, None]
            matrix = np.zeros((len(seqs), width_bases), dtype=np.uint8)
            matrix[inside] = flat[(starts[:, None] + cols)[inside]]
        kmers = kmer_ids(matrix, k).numpy()  # (B, max k-mers); assembled in NumPy (cheaper allocation)
        batch = len(seqs)
        width = kmers.shape[1] + n_special
        offset = 1 if add_special_tokens else 0
        ids = np.empty((batch, width), dtype=np.int64)
        ids[:, offset : offset + kmers.shape[1]] = kmers
        real = np.arange(width) < (n_kmers + n_special)[:, None]  # (B, L) True = real token
        if add_special_tokens:
            ids[:, 0] = CLS_ID
            ids[np.arange(batch), n_kmers + 1] = SEP_ID
        ids[~real] = PAD_ID
        return torch.from_numpy(ids), torch.from_numpy(real)

    # ---- decoding -------------------------------------------------------------------------

    def decode(self, ids: torch.Tensor | Sequence[int]) -> str | list[str]:
        """DNA sequence(s) back from token ids.

        Special tokens are dropped; the remaining k-mers must be consecutive overlapping
        windows (as :meth:`encode` makes them), and the sequence is the first k-mer
        followed by the last base of each next one.

        Args:
            ids: ``(L,)`` ids (tensor or list of ints) -> one string; ``(B, L)`` -> list of strings.

        Raises:
            ValueError: if ids are outside the vocabulary or consecutive k-mers do not overlap
            (for example because a ``[MASK]`` or ``[UNK]`` sits between them).
        """
        if not isinstance(ids, torch.Tensor):
            ids = torch.as_tensor(ids, dtype=torch.long)
        if ids.dim() == 2:
            return [self._decode_row(row, f"ids[{i}]") for i, row in enumerate(ids)]
        if ids.dim() != 1:
            raise ValueError(f"ids must have shape (L,) or (B, L), got {tuple(ids.shape)}")
        return self._decode_row(ids, "ids")

    def _decode_row(self, row: torch.Tensor, name: str) -> str:
        k = self.k
        row = row.cpu().long()
        kept = row[row >= NUM_SPECIAL] if row.numel() else row
        bad = (row < 0) | (row >= self.vocab_size)
        if bool(bad.any()):
            raise ValueError(f"{name} holds {int(row[bad][0])}, outside the vocabulary [0, {self.vocab_size})")
        if kept.numel() == 0:
            return ""
        bases = kmer_bases(kept, k)  # (n, k)
        if k > 1 and kept.numel() > 1:
            broken = (bases[1:, :-1] != bases[:-1, 1:]).any(-1)
            if bool(broken.any()):
                j = int(broken.nonzero()[0, 0])
                raise ValueError(
                    f"{name}: k-mers {j} and {j + 1} (after dropping special tokens) do not overlap by "
                    f"{k - 1} bases, so they are not consecutive windows of one sequence"
                )
        codes = torch.cat([bases[0], bases[1:, -1]])
        return bytes(np.frombuffer(BASES.encode(), dtype=np.uint8)[codes.numpy()]).decode()
