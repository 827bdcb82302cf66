"""Error surfaces: the loss along lines and over planes through the parameters.

The lecture draws the loss as a landscape over the parameters, with a saddle point and the
way down from it. :func:`loss_slice_1d` and :func:`loss_surface_2d` compute such slices
for any model, vmapped over the grid; :func:`random_direction` and :func:`filter_normalize`
give directions scaled like the network (Li et al. 2018). Pictures of them are in
:mod:`jaxtrain.plot`.
"""

from jaxtrain.landscape._directions import filter_normalize, random_direction
from jaxtrain.landscape._slice import loss_slice_1d, loss_surface_2d

__all__ = [
    "filter_normalize",
    "loss_slice_1d",
    "loss_surface_2d",
    "random_direction",
]
