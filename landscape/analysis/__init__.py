"""The analyses of the loss landscape: NumPy and SciPy only, no Optuna, nothing printed.

``hessian`` (exact Hessians and λ_max), ``symmetry`` (the hidden-unit symmetry group on θ),
``minima`` (polishing, classifying and counting critical points), ``geometry`` (paths between
minima and slices of the loss). Each returns dataclasses; the study layer stores them.
"""
