"""The vocabulary every segstream package shares and none owns: the error tree's base and the
user-input errors, label sets, the confusion matrix and mIoU, typed YAML configuration, sizes,
image suffixes, and files written atomically with one hasher. Imports nothing of segstream."""
