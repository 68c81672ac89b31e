"""fluent with distractors, with the key's position varying: `fluent_distractors`' own
sentences, the padding moved from before the sentence to after the query.

`fluent_distractors` pads every sentence on the left to one length, so its key always sits at
index PREFIX + 1 and a model may find it by its index (learned-position attention does:
`make key-shift`). Here each sentence starts at index 0 and the padding follows the query,
so the key sits at index 1 to PREFIX + 1 (one more per real prefix token) and the query at
gap + 2 to gap + PREFIX + 2, still exactly `gap` tokens after the key. The question is asked
where the query stands, not at the last step, so the targets are one per step: the key's
language at the query, `blank` at every other step (the steps before it ask nothing; those
after it are padding). A causal model never sees the padding before it answers. Only the
answer is trained and scored (`train_blanks=False`): its loss is the cross-entropy at the
query, exactly `fluent_distractors`' loss on the same sentence, so the two tasks differ in
where the key sits and in nothing a model is trained on besides. (Training the blanks too,
as copy does, was this task's first version, commit 3971f4c: its runs, kept in
`results/checks/fluent_moving_blanks_trained/`, did much worse; the orthogonal RNN solved
1 of 5 at gap 10 and the IndRNN 0 of 5, against 5 of 5 each on `fluent_distractors`.)

Worked example, gap = 4, 2 prefix tokens (PREFIX = 8; ids as in `fluent_distractors`, and
target 8 is blank `_`):

    x: japan  old  grew_up_in  france  the  spain  of  rain  fluent  <pad> ... <pad>
    y: _      _    _           _       _    _      _   _     french  _     ... _

x and y have shape (n, PREFIX + gap + 3), int32. Accuracy counts the query's step only, where
chance is 1/8.
"""

import numpy as np

from datasets.base import Task
from datasets.fluent import LANGUAGES, N_KEYS
from datasets.fluent_distractors import PAD_ID, PREFIX, QUERY_ID, VOCAB, fluent_distractors

BLANK = N_KEYS  # the target of every step but the query's


def fluent_moving(gap, n, seed):
    """Draw n samples: `fluent_distractors(gap, n, seed)` with each row's left padding moved to its end.

    Args:
        gap: tokens between the key and the query (>= 1).
        n: number of samples.
        seed: seed of `np.random.default_rng` (the same sentences as `fluent_distractors`).

    Returns:
        x: (n, PREFIX + gap + 3) int32 token ids; y: (n, PREFIX + gap + 3) int32, the key's
        language id in [0, 8) at the query's step and BLANK elsewhere.
    """
    x, keys = fluent_distractors(gap, n, seed)
    length = x.shape[1]
    n_pad = np.sum(x[:, :PREFIX] == PAD_ID, axis=1)  # the padding is a left block of the prefix
    x = np.take_along_axis(x, (np.arange(length)[None, :] + n_pad[:, None]) % length, axis=1)
    y = np.where(x == QUERY_ID, keys[:, None], BLANK)  # one query per row: the marker and query ids are never fillers
    return x.astype(np.int32), y.astype(np.int32)


def decode(x_row, y_row):
    answer = y_row[y_row != BLANK]
    return " ".join(VOCAB[t] for t in x_row if t != PAD_ID) + " -> " + LANGUAGES[answer[0]]


TASK = Task(
    fn=fluent_moving,
    vocab_size=len(VOCAB),
    n_classes=N_KEYS + 1,
    chance=1 / N_KEYS,
    decode=decode,
    output="sequence",
    blank=BLANK,
    train_blanks=False,  # the loss is the answer's alone, as in fluent_distractors
    baseline_loss=lambda gap: np.log(N_KEYS),  # a uniform guess at the query
    gap_meaning=f"tokens between the country after 'grew_up_in' and the query 'fluent', as in fluent_distractors; the key "
                f"sits at index 1 to {PREFIX + 1}, the padding after the query (sequence length gap + {PREFIX + 3})",
)
