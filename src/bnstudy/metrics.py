"""The names of what every run records (shared by the engines, results and tables)."""

#: Per-epoch metrics, as Keras ``fit`` names them: train (running mean over the epoch's
#: batches, BN in training mode) and validation = test split (inference mode).
METRICS = ("loss", "accuracy", "val_loss", "val_accuracy")
#: After training: the model evaluated on the training set (inference mode).
FINAL_METRICS = ("train_loss", "train_accuracy")
#: After training, with a validation split (``data.n_validation`` > 0): the model evaluated
#: on it (inference mode).
VALIDATION_METRICS = ("validation_loss", "validation_accuracy")
#: Their names in MLflow: one value per run (at the last epoch's step), named so the UI does not
#: offer them as curves beside the per-epoch training ``loss``/``accuracy``. Runs logged before
#: the ``final_`` prefix carry the plain names; reading falls back to them.
LOGGED_FINAL = {m: f"final_{m}" for m in FINAL_METRICS + VALIDATION_METRICS}


def final_metrics(data) -> tuple[str, ...]:
    """The final evaluations a run with this data config records: FINAL_METRICS, then
    VALIDATION_METRICS when it has a validation split (``data.n_validation`` > 0)."""
    return FINAL_METRICS + (VALIDATION_METRICS if data.get("n_validation", 0) else ())


#: Per-epoch, with ``train.extra_eval``: the same trained weights evaluated on the test split
#: (inference mode) with other BN statistics. ``_m90``: moving statistics kept with momentum
#: 0.9 beside the model's own (updated from the same batch statistics, never used in training);
#: ``_pop``: population statistics, each BN layer's input mean/variance over the whole
#: training set after the epoch. Without BN they equal val_loss and val_accuracy.
EXTRA_METRICS = ("val_loss_m90", "val_accuracy_m90", "val_loss_pop", "val_accuracy_pop")
#: Per-epoch, with ``train.layer_stats``, per seed: the hidden block's output (what the output
#: layer receives, before dropout) on the training set as one batch, its per-unit mean and
#: per-unit (population) standard deviation averaged over units, in inference mode (``_infer``)
#: and in training mode (``_train``: BN with that batch's statistics); ``hidden_drift``: the
#: mean over units of |change of the per-unit mean| + |change of the per-unit std| of the
#: inference-mode output since the previous epoch (epoch 1: since the initial weights).
LAYER_METRICS = (
    "hidden_mean_infer",
    "hidden_std_infer",
    "hidden_mean_train",
    "hidden_std_train",
    "hidden_drift",
)


def epoch_metrics(train) -> tuple[str, ...]:
    """The per-epoch metrics a run with this train config records: METRICS, then
    EXTRA_METRICS (``train.extra_eval``) and LAYER_METRICS (``train.layer_stats``)."""
    extra = EXTRA_METRICS if train.get("extra_eval", False) else ()
    return METRICS + extra + (LAYER_METRICS if train.get("layer_stats", False) else ())
