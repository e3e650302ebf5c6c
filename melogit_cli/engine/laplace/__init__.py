"""The Laplacian approximation: the joint sparse engine (crossed, and every Laplace fit whose
variance needs no scores), the two-level and nested exact gradients, and dense SPD factors."""
