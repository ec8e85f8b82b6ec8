"""Wrong calls that mypy must flag: each line marked ``# E: <code>`` is
expected to give exactly that error, and no other line any error."""
import numpy as np

import fastdrop as fd
from fastdrop import graph as G
from fastdrop import plugin

x = np.ones((4, 4), np.float32)
fd.dropout(x, "0.5")  # E: call-overload
fd.dropout(x, 0.5, training="yes")  # E: call-overload
fd.dropout(x, 0.5, generator=np.random.default_rng(0))  # E: call-overload
handle: fd.DropoutHandle = fd.dropout(x, 0.5)  # E: assignment
y, h = fd.dropout(x, 0.5, return_handle=True)
fd.dropout_backward(y, "handle")  # E: arg-type
fd.dropout_handle((4, 4), 0.5, mask_shape=4)  # E: arg-type
fd.Generator(seed=0).spawn("2")  # E: arg-type
fd.Generator(seed="0")  # E: arg-type
fd.set_num_threads(2.0)  # E: arg-type
fd.layer(3)  # E: arg-type
G.Linear(4, "8")  # E: arg-type
G.Sequential(G.ReLU())  # E: arg-type
G.SGD(G.Linear(2, 2).parameters(), lr="0.1")  # E: arg-type
plugin.check_int(3)  # E: call-arg
