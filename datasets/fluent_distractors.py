"""The fluent task made honest: several countries in the sentence, only the one after the
marker "grew up in" decides the language, and 0-8 real tokens (countries among them) come
before the marker.

In `fluent` the key is always the first token and the only country, so a model may simply
keep the first country it sees. Here a sample is

    [pad ...] prefix  grew_up_in  KEY  gap tokens  fluent

with exactly `gap` tokens between the key and the query "fluent", as in `fluent`. The prefix
holds 0 to PREFIX real tokens (uniformly many), left-padded to PREFIX, so every sample has
the same length and the key the same index, PREFIX + 1, at every gap: what varies is how
many real tokens, and which countries, come before the marker, not where the key sits. A
model that sees the padding (every model here does) can therefore find the key by its
index, which is what attention with learned absolute positions does. Prefix and gap tokens
are fillers, each replaced by a country (a distractor, any of the 8, the key's own
included) with probability P_DISTRACTOR. Neither "keep the first country" nor "keep the
last country" solves it: a model must keep the country that follows the marker (or sits at
the key's index), and keep it through later countries. A cell whose gates read only the
current input (`min_gru`, `min_lstm`) cannot tell a key from a distractor of the same
country name by its gate, so one layer of it should fail here while it may solve `fluent`.

Worked example, gap = 4, 2 prefix tokens (ids: countries 0-7, fillers 8-39, then
grew_up_in 40, fluent 41, pad 42):

    x: <pad> ... <pad>  japan  old  grew_up_in  france  the  spain  of  rain  fluent
    y: french

x has shape (n, PREFIX + gap + 3), y (n,); both int32. Chance is 1/8.
"""

import numpy as np

from datasets.base import Task, check_args
from datasets.fluent import COUNTRIES, FILLERS, LANGUAGES, N_KEYS

MARKER, QUERY, PAD = "grew_up_in", "fluent", "<pad>"
VOCAB = COUNTRIES + FILLERS + (MARKER, QUERY, PAD)
MARKER_ID, QUERY_ID, PAD_ID = len(VOCAB) - 3, len(VOCAB) - 2, len(VOCAB) - 1
PREFIX = 8  # most real tokens before the marker (the rest of the PREFIX slots is padding)
P_DISTRACTOR = 0.25  # chance that a prefix or gap token is a country


def fluent_distractors(gap, n, seed):
    """Draw n samples; see the module docstring for the layout.

    Args:
        gap: tokens between the key and the query (>= 1).
        n: number of samples.
        seed: seed of `np.random.default_rng`.

    Returns:
        x: (n, PREFIX + gap + 3) int32 token ids; y: (n,) int32 language ids in [0, 8).
    """
    check_args(gap, n, seed)
    rng = np.random.default_rng(seed)
    keys = rng.integers(0, N_KEYS, size=n)

    def tokens(width):  # fillers, each a distractor country with probability P_DISTRACTOR
        fillers = rng.integers(N_KEYS, N_KEYS + len(FILLERS), size=(n, width))
        countries = rng.integers(0, N_KEYS, size=(n, width))
        return np.where(rng.random((n, width)) < P_DISTRACTOR, countries, fillers)

    prefix = tokens(PREFIX)
    n_prefix = rng.integers(0, PREFIX + 1, size=n)  # how many prefix tokens each sample keeps
    prefix[np.arange(PREFIX)[None, :] < (PREFIX - n_prefix)[:, None]] = PAD_ID  # the rest is left padding
    column = lambda value: np.full((n, 1), value)
    x = np.concatenate([prefix, column(MARKER_ID), keys[:, None], tokens(gap), column(QUERY_ID)], axis=1)
    return x.astype(np.int32), keys.astype(np.int32)


def decode(x_row, y_value):
    return " ".join(VOCAB[t] for t in x_row if t != PAD_ID) + " -> " + LANGUAGES[y_value]


TASK = Task(
    fn=fluent_distractors,
    vocab_size=len(VOCAB),
    n_classes=N_KEYS,
    chance=1 / N_KEYS,
    decode=decode,
    gap_meaning="tokens between the country after 'grew_up_in' and the query 'fluent', countries among them "
                f"(sequence length gap + {PREFIX + 3})",
)
