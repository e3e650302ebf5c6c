"""The Laplacian approximation: the joint sparse engine (every Laplace fit, weighted or
not), its Newton objective, and dense SPD factors."""
