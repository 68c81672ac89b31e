"""The "fluent" task: "I grew up in France ... I speak fluent ___" with an exact gap.

One sample is a key token (a country), exactly `gap` filler tokens drawn uniformly and
independently of the key, then the query token "fluent". The target is the language of the
country. Only the first token carries information, so a model that forgets it over the gap
can do no better than chance, 1 / N_KEYS.

Worked example, gap = 5 (token ids in brackets are what the model sees):

    x: france  the  river  of  old  stone  fluent       [0, 8, 21, 14, 19, 27, 40]
    y: french                                            0

x has shape (n, gap + 2), y has shape (n,); both int32.
"""

import numpy as np

from datasets.base import Task, check_args

COUNTRIES = ("france", "germany", "spain", "italy", "japan", "china", "russia", "brazil")
LANGUAGES = ("french", "german", "spanish", "italian", "japanese", "chinese", "russian", "portuguese")
FILLERS = (
    "the", "a", "and", "then", "we", "i", "of", "in", "on", "by", "with", "old", "new", "river",
    "house", "summer", "school", "friend", "walked", "stone", "read", "long", "quiet", "near",
    "town", "market", "bread", "rain", "garden", "train", "music", "years",
)
QUERY = "fluent"
VOCAB = COUNTRIES + FILLERS + (QUERY,)
N_KEYS = len(COUNTRIES)
FIRST_FILLER = N_KEYS
QUERY_ID = len(VOCAB) - 1


def fluent(gap, n, seed):
    """Draw n samples of the fluent task; see the module docstring for the layout.

    Args:
        gap: number of filler tokens between the key and the query (>= 1).
        n: number of samples.
        seed: seed of `np.random.default_rng`; the same seed gives the same arrays.

    Returns:
        x: (n, gap + 2) int32 token ids; y: (n,) int32 language ids in [0, N_KEYS).
    """
    check_args(gap, n, seed)
    rng = np.random.default_rng(seed)
    keys = rng.integers(0, N_KEYS, size=n)
    fillers = rng.integers(FIRST_FILLER, FIRST_FILLER + len(FILLERS), size=(n, gap))
    x = np.concatenate([keys[:, None], fillers, np.full((n, 1), QUERY_ID)], axis=1)
    return x.astype(np.int32), keys.astype(np.int32)


def decode(x_row, y_value):
    """`france the river ... fluent -> french`."""
    return " ".join(VOCAB[t] for t in x_row) + " -> " + LANGUAGES[y_value]


TASK = Task(
    fn=fluent,
    vocab_size=len(VOCAB),
    n_classes=N_KEYS,
    chance=1 / N_KEYS,
    decode=decode,
    gap_meaning="number of filler tokens between the country and the query 'fluent' (sequence length gap + 2)",
)
