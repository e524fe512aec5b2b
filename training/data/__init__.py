"""Labelled data for training and evaluation: datasets opened by a spec string (synthetic,
Cityscapes, PASCAL VOC, a folder of images and masks), augmentation and the pre-rendered cache."""
