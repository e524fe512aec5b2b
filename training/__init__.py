"""Make and measure models: training configuration, datasets and augmentation, losses, the
pre-rendered cache, the training loop, evaluation and plots. Imports engines, streetsim and
segcore; nothing imports training (the deployed pipeline never needs it)."""
