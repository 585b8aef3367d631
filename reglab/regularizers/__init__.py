"""Regularizers: penalties with proximal steps, the dropout family, constraints, early stopping, augmentation."""
