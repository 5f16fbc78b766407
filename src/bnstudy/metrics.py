"""The names of what every run records (shared by the engines, results and tables)."""

#: Per-epoch metrics, as Keras ``fit`` names them: train (running mean over the epoch's
#: batches, BN in training mode) and validation = test split (inference mode).
METRICS = ("loss", "accuracy", "val_loss", "val_accuracy")
#: After training: the model evaluated on the training set (inference mode).
FINAL_METRICS = ("train_loss", "train_accuracy")
