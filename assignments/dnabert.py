# %% [title]
# # Assignment 5: from DNA to DNABERT's inputs
#
# DNABERT reads DNA as overlapping k-mers, learns by filling in masked spans of them, and is then fine-tuned to recognise promoters, binding sites and splice sites. Chapter 9 ([Biological sequences](../../book/09_biological_sequences.ipynb)) went from DNA to RNA to protein and introduced k-mers; chapter 10 ([DNABERT](../../book/10_dnabert.ipynb)) built the vocabulary, the span masking and the pretraining. Here you write the whole input pipeline, from a template strand to a masked batch, and use it to pretrain DNABERT-mini for a few steps on a real genome.

# %% [how-to-check]

# %% [locked] setup
import itertools

import torch

import cs502_lib

torch.manual_seed(0)
torch.set_num_threads(1)  # the models of this notebook are tiny: one thread is the fastest (and fair on a shared server)

# %% [markdown]
# ## Part 1: transcription
#
# Write `transcribe(template)`: the mRNA complementary to a **template** strand, base by base as in the lecture's
# figure: A -> U, T -> A, C -> G, G -> C. So `transcribe("CACGTAGACTGAGGACTCCTCTTC")` is
# `"GUGCAUCUGACUCCUGAGGAGAAG"`. Lower-case input is accepted (the result is upper case); any other letter raises
# `ValueError` (with a message naming it).

# %% [solution] transcribe
def transcribe(template):
    """mRNA (A->U, T->A, C->G, G->C) of a DNA template strand; ValueError on other letters."""
    ### BEGIN SOLUTION
    pairs = {"A": "U", "T": "A", "C": "G", "G": "C"}
    rna = []
    for position, base in enumerate(template.upper()):
        if base not in pairs:
            raise ValueError(f"not a DNA base at position {position}: {base!r}")
        rna.append(pairs[base])
    return "".join(rna)
    ### END SOLUTION

# %% [check] transcribe

# %% [hidden] transcribe about="a long random strand, mixed case, letters that are not DNA"

# %% [markdown]
# ## Part 2: translation
#
# Write `translate(mrna)`: the protein, in one-letter amino-acid codes, that the standard genetic code gives for
# `mrna`, read codon by codon **from position 0**. Translation **stops before the first stop codon** (UAA, UAG,
# UGA; the stop itself is not written), and an incomplete last codon (1 or 2 leftover bases) is ignored.
# Lower case is accepted; any letter other than A/C/G/U raises `ValueError`, wherever it is.
# `translate("GUGCAUCUGACUCCUGAGGAGAAG")` is `"VHLTPEEK"`.
#
# The standard code in compact form: with the bases in the order U, C, A, G, the 64 codons listed
# UUU, UUC, UUA, UUG, UCU, ..., GGG (first base slowest) code for
# `FFLLSSSSYY**CC*WLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG` (`*` = stop).

# %% [solution] translate
def translate(mrna):
    """Protein (one-letter codes) of an mRNA read from 0 until the first stop codon; ValueError on non-ACGU."""
    ### BEGIN SOLUTION
    order = "UCAG"
    amino = "FFLLSSSSYY**CC*WLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG"
    code = {"".join(codon): aa for codon, aa in zip(itertools.product(order, repeat=3), amino)}
    mrna = mrna.upper()
    for position, base in enumerate(mrna):
        if base not in order:
            raise ValueError(f"not an RNA base at position {position}: {base!r}")
    protein = []
    for start in range(0, len(mrna) - 2, 3):
        aa = code[mrna[start:start + 3]]
        if aa == "*":
            break
        protein.append(aa)
    return "".join(protein)
    ### END SOLUTION

# %% [check] translate

# %% [hidden] translate about="all 64 codons, a stop first, bad letters after a stop"

# %% [markdown]
# ## Part 3: k-mer tokens
#
# Write `kmer_tokenize(seq, k)`: the list of the **overlapping** k-mers of a DNA sequence, a window of k bases moved
# one base at a time, so `len(seq) - k + 1` of them, upper-cased: `kmer_tokenize("acgtac", 3)` is
# `["ACG", "CGT", "GTA", "TAC"]`. Raise `ValueError` when the sequence holds a letter other than A/C/G/T (either
# case), when `k < 1`, or when `len(seq) < k`.

# %% [solution] kmer_tokenize
def kmer_tokenize(seq, k):
    """Overlapping upper-case k-mers of a DNA sequence: len(seq) - k + 1 of them."""
    ### BEGIN SOLUTION
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    seq = seq.upper()
    bad = set(seq) - set("ACGT")
    if bad:
        raise ValueError(f"not DNA bases: {sorted(bad)}")
    if len(seq) < k:
        raise ValueError(f"a sequence of {len(seq)} bases has no {k}-mer")
    return [seq[i:i + k] for i in range(len(seq) - k + 1)]
    ### END SOLUTION

# %% [check] kmer_tokenize

# %% [hidden] kmer_tokenize about="k equal to the length, k = 1, a long sequence, invalid arguments"

# %% [markdown]
# ## Part 4: the vocabulary
#
# Write `build_kmer_vocab(k)`: a `dict` from token to id with the five special tokens first,
# `[PAD]` = 0, `[UNK]` = 1, `[CLS]` = 2, `[SEP]` = 3, `[MASK]` = 4, then all $4^k$ k-mers in lexicographic order over
# "ACGT" from id 5 (`AA...A` = 5, `AA...C` = 6, ..., `TT...T` = $4^k + 4$). `itertools.product` enumerates them in that
# order. Raise `ValueError` when `k < 1`.

# %% [solution] build_kmer_vocab
def build_kmer_vocab(k):
    """{token: id}: [PAD]=0, [UNK]=1, [CLS]=2, [SEP]=3, [MASK]=4, then the 4**k k-mers in ACGT order from 5."""
    ### BEGIN SOLUTION
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    vocab = {token: i for i, token in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])}
    for kmer in itertools.product("ACGT", repeat=k):
        vocab["".join(kmer)] = len(vocab)
    return vocab
    ### END SOLUTION

# %% [check] build_kmer_vocab

# %% [hidden] build_kmer_vocab about="k = 1, k = 6, ids contiguous and in order"

# %% [markdown]
# ## Part 5: span masking
#
# DNABERT learns by predicting masked tokens, but a single masked k-mer is trivial to recover: its overlapping
# neighbours contain all of its bases. So it masks **contiguous spans of k tokens**. Write
# `span_mask(input_ids, k, mask_prob=0.15, generator=None)` returning `(masked_ids, labels)`:
#
# * `input_ids`: LongTensor (B, L) of vocabulary ids (special tokens included);
# * choose random spans of k consecutive tokens so that **about `mask_prob` of the maskable tokens** end up masked
#   (maskable = every token except `[PAD]` (0), `[CLS]` (2) and `[SEP]` (3), which are never masked). One way: let
#   every position (including the k-1 virtual positions before the row) start a span independently with probability
#   $q = 1 - (1 - p)^{1/k}$: a token is then covered by at least one of the k spans that could reach it with
#   probability exactly $p$;
# * `masked_ids`: a copy of `input_ids` with `[MASK]` (4) at the masked positions;
# * `labels`: the original id at the masked positions and -100 everywhere else (the `ignore_index` of
#   `F.cross_entropy`);
# * draw the random numbers with `generator` (a `torch.Generator`, on its own device) when it is given, so the same seed
#   gives the same masks; put the results on the device of `input_ids`; never modify `input_ids` itself.

# %% [solution] span_mask
def span_mask(input_ids, k, mask_prob=0.15, generator=None):
    """Mask contiguous spans of k tokens (about mask_prob of the maskable ones); returns (masked_ids, labels)."""
    ### BEGIN SOLUTION
    batch, length = input_ids.shape
    q = 1.0 - (1.0 - mask_prob) ** (1.0 / k)
    draw_device = generator.device if generator is not None else input_ids.device
    # starts[:, s] says whether a span starts at position s - (k - 1); position j is covered by starts j .. j + k - 1
    starts = torch.rand(batch, length + k - 1, generator=generator, device=draw_device) < q
    starts = starts.to(input_ids.device)
    covered = starts.unfold(1, k, 1).any(dim=-1)
    special = (input_ids == 0) | (input_ids == 2) | (input_ids == 3)
    masked = covered & ~special
    masked_ids = input_ids.masked_fill(masked, 4)
    labels = torch.where(masked, input_ids, torch.full_like(input_ids, -100))
    return masked_ids, labels
    ### END SOLUTION

# %% [check] span_mask

# %% [hidden] span_mask about="the masked fraction on a large batch, spans of at least k, special tokens, seeds"

# %% [question] why_span_masking points=2
# DNABERT masks **contiguous spans of k tokens** instead of independent single tokens as BERT does for English.
# Explain why masking a single 6-mer would make the pretraining task nearly trivial, and what the model is forced to
# learn when a whole span is masked. (3-5 sentences.)

# %% [answer] why_span_masking
# Overlapping k-mers are redundant: the token at position $t$ shares $k-1$ bases with each neighbour, and its bases
# all appear in the tokens $t-k+1, \dots, t-1$ and $t+1, \dots, t+k-1$. With a single masked 6-mer, the left
# neighbour gives its first five bases and the right neighbour its last five, so the model can read the answer off
# the unmasked context without learning anything about DNA. Masking k consecutive tokens hides at least one base
# (the middle of the span) from every visible token, so the model must predict bases from the surrounding sequence:
# motifs, composition and longer-range regularities of the genome, which is what makes the representation useful
# for the downstream tasks.

# %% [markdown]
# ## Part 6: your pipeline feeds DNABERT-mini
#
# Everything below uses *your* functions: the lecture's figure (DNA -> mRNA -> protein), then windows of the real
# *E. coli* 536 genome shipped with the course, tokenized with your `kmer_tokenize`, mapped to ids with your
# `build_kmer_vocab`, framed by `[CLS]` ... `[SEP]` and masked by your `span_mask`. They feed a few steps of masked-LM
# pretraining of DNABERT-mini (`cs502_lib.dnabert`, a small BERT whose head predicts the k bases of every masked
# k-mer). A few steps only show the pipeline at work: the loss falls from its random start to about
# $\ln 4 \approx 1.39$ per base, the level of guessing every base blindly; getting below it takes thousands of steps,
# which is what `python -m cs502_lib.dnabert pretrain` does (chapter 10).

# %%
from cs502_lib.data import load_genome
from cs502_lib.dnabert import DNABertConfig, DNABertForMaskedLM, masked_lm_loss, masked_token_accuracy

template = "CACGTAGACTGAGGACTCCTCTTC"
mrna = transcribe(template)
print(f"{template} -> {mrna} -> {translate(mrna)}")

K, WINDOW, BATCH, STEPS = 3, 64, 32, 20
genome = load_genome()
vocab = build_kmer_vocab(K)
g = torch.Generator().manual_seed(0)


def genome_batch(n):
    starts = torch.randint(0, len(genome) - WINDOW, (n,), generator=g).tolist()
    rows = [[vocab["[CLS]"]] + [vocab[t] for t in kmer_tokenize(genome[s:s + WINDOW], K)] + [vocab["[SEP]"]]
            for s in starts]
    return torch.tensor(rows)


ids = genome_batch(BATCH)
print("one window as ids:", ids[0, :10].tolist(), "...")
masked_ids, labels = span_mask(ids, K, 0.15, generator=g)
print("masked:           ", masked_ids[0, :10].tolist(), "...")

torch.manual_seed(0)
model = DNABertForMaskedLM(DNABertConfig(k=K, d_model=64, num_layers=2, num_heads=4, max_len=128))
opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
for step in range(STEPS):
    masked_ids, labels = span_mask(genome_batch(BATCH), K, 0.15, generator=g)
    loss = masked_lm_loss(model(masked_ids), labels)
    opt.zero_grad()
    loss.backward()
    opt.step()
    if step % 10 == 0 or step == STEPS - 1:
        print(f"step {step:2d}  masked-LM loss {loss.item():.3f} per base")
with torch.no_grad():
    masked_ids, labels = span_mask(genome_batch(256), K, 0.15, generator=g)
    right, total = masked_token_accuracy(model(masked_ids), labels)
print(f"masked 3-mers predicted exactly after {STEPS} steps: {right}/{total} (pretraining takes thousands of steps)")
