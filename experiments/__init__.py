"""Train, sweep, evaluate and plot: the experiment side of the suite (see cli.py)."""

import os
import sys


def quiet_tensorflow():
    """Import TensorFlow (if it is Keras' backend) with file descriptor 2 closed.

    Called by whatever first needs Keras (`config.cell_registry`, `train`), never at import
    time: reading records, tables and figures needs no TensorFlow (4-5 s to import here).

    TensorFlow 2.20+ logs oneDNN and CPU-feature notes through absl before it reads
    TF_CPP_MIN_LOG_LEVEL, so no setting hides them; they would bury the CLI's one-line errors.
    A failed import is retried (loudly) by whoever imports keras next.
    """
    if os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow" or "tensorflow" in sys.modules:
        return
    # 3 also hides the harmless "NodeDef mentions attribute use_unbounded_threadpool" error
    # that tf.data logs on every fit; real failures still raise Python exceptions.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import tensorflow as tf

        tf.get_logger().setLevel("ERROR")  # retracing notes: every new model traces its own functions
    except ImportError:
        pass
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)

