"""A gated recurrent unit over batch-first sequences, with backpropagation through time."""
from __future__ import annotations

from typing import Any, List, Optional, Tuple

import numpy as np

from .._layer import Layer, Parameter
from .._validation import check_bool, check_grad_shape, check_int
from .layers import RngLike, check_float_dtype, check_input_shape, fan_in_uniform, make_rng

__all__ = ["GRU"]


def _sigmoid(a: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-a)), written with tanh so that no exponential overflows."""
    return 0.5 + 0.5 * np.tanh(0.5 * a)


class GRU(Layer):
    """One GRU layer (Cho et al., 2014) over (N, T, input_size) sequences -> (N, T, hidden_size).

    With gates in torch's order (reset r, update z, new n) and the hidden
    state starting at zero, for each time step t::

        r = sigmoid(x_t W_ir + b_ir + h W_hr + b_hr)
        z = sigmoid(x_t W_iz + b_iz + h W_hz + b_hz)
        n = tanh(x_t W_in + b_in + r * (h W_hn + b_hn))
        h = (1 - z) * n + z * h

    as torch's ``nn.GRU(input_size, hidden_size, batch_first=True)``.

    Parameters
    ----------
    input_size, hidden_size : int >= 1
    return_sequences : bool, default True
        Return every step's hidden state (N, T, hidden_size); False returns
        the last one only, (N, hidden_size), for a classifier on top.
    rng : numpy.random.Generator, int or None
        Source of the initial weights.
    dtype : float dtype, default float32

    Attributes
    ----------
    weight_ih : Parameter, shape (input_size, 3 * hidden_size)
        Columns [r | z | n]; torch's ``weight_ih_l0.T``.
    weight_hh : Parameter, shape (hidden_size, 3 * hidden_size)
        torch's ``weight_hh_l0.T``.
    bias_ih, bias_hh : Parameter, shape (3 * hidden_size,)
        Every weight and bias starts uniform on [-1/sqrt(hidden_size),
        1/sqrt(hidden_size)], torch's initialisation.

    Raises
    ------
    TypeError, ValueError
        A bad argument (named); in forward, an input that is not
        (N, T, input_size) with T >= 1.

    Notes
    -----
    The input projections of all time steps are one matrix product before
    the recurrence, which is the only Python loop.  Forward keeps the gates
    and hidden states (O(N T hidden_size) numbers); backward runs the
    recurrence in reverse (backpropagation through time) and gets the
    weight gradients with one matrix product each after the loop.

    Examples
    --------
    >>> import numpy as np
    >>> from fastdrop import graph
    >>> gru = graph.GRU(3, 5, rng=0)
    >>> gru(np.ones((2, 7, 3), np.float32)).shape
    (2, 7, 5)
    """

    fresh_grad = True

    def __init__(self, input_size: int, hidden_size: int, return_sequences: bool = True, rng: RngLike = None,
                 dtype: Any = np.float32) -> None:
        self.input_size = check_int(input_size, "input_size", low=1)
        self.hidden_size = check_int(hidden_size, "hidden_size", low=1)
        self.return_sequences = check_bool(return_sequences, "return_sequences")
        dtype = check_float_dtype(dtype)
        rng = make_rng(rng)
        h = self.hidden_size
        self.weight_ih = Parameter(fan_in_uniform(rng, (self.input_size, 3 * h), h, dtype))
        self.weight_hh = Parameter(fan_in_uniform(rng, (h, 3 * h), h, dtype))
        self.bias_ih = Parameter(fan_in_uniform(rng, (3 * h,), h, dtype))
        self.bias_hh = Parameter(fan_in_uniform(rng, (3 * h,), h, dtype))
        self._saved: Optional[Tuple[np.ndarray, ...]] = None

    def parameters(self) -> List[Parameter]:
        return [self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh]

    def forward(self, x: Any) -> np.ndarray:
        x = check_input_shape(x, 3, f"(N, T, {self.input_size})", axis=2, size=self.input_size)
        n, steps, _ = x.shape
        if steps < 1:
            raise ValueError(f"x must have at least one time step, got shape {x.shape}")
        h = self.hidden_size
        inputs = x @ self.weight_ih.data + self.bias_ih.data
        dtype = inputs.dtype
        states = np.empty((n, steps + 1, h), dtype)    # states[:, t] is the hidden state before step t
        states[:, 0] = 0
        gates = np.empty((n, steps, 2 * h), dtype)     # r | z after the sigmoid
        new = np.empty((n, steps, h), dtype)           # n after the tanh
        recurrent_new = np.empty((n, steps, h), dtype)  # h W_hn + b_hn, which r multiplies
        for t in range(steps):
            hidden = states[:, t]
            recurrent = hidden @ self.weight_hh.data + self.bias_hh.data
            rz = gates[:, t] = _sigmoid(inputs[:, t, :2 * h] + recurrent[:, :2 * h])
            recurrent_new[:, t] = recurrent[:, 2 * h:]
            candidate = new[:, t] = np.tanh(inputs[:, t, 2 * h:] + rz[:, :h] * recurrent[:, 2 * h:])
            states[:, t + 1] = candidate + rz[:, h:] * (hidden - candidate)
        self._saved = (x, states, gates, new, recurrent_new)
        return states[:, 1:] if self.return_sequences else states[:, -1]

    def backward(self, dy: Any) -> np.ndarray:
        if self._saved is None:
            raise RuntimeError("GRU.backward called before forward")
        x, states, gates, new, recurrent_new = self._saved
        n, steps, _ = x.shape
        h = self.hidden_size
        if self.return_sequences:
            dy = check_grad_shape(dy, (n, steps, h))
        else:
            last = check_grad_shape(dy, (n, h))
            dy = np.zeros((n, steps, h), last.dtype)
            dy[:, -1] = last
        dtype = np.result_type(states, dy)
        dinputs = np.empty((n, steps, 3 * h), dtype)      # d loss / d (x W_ih + b_ih), per gate
        drecurrent = np.empty((n, steps, 3 * h), dtype)   # d loss / d (h W_hh + b_hh)
        dhidden = np.zeros((n, h), dtype)
        for t in reversed(range(steps)):
            dhidden += dy[:, t]
            r, z, candidate = gates[:, t, :h], gates[:, t, h:], new[:, t]
            dnew = dhidden * (1 - z) * (1 - candidate * candidate)
            dinputs[:, t, :h] = dnew * recurrent_new[:, t] * r * (1 - r)
            dinputs[:, t, h:2 * h] = dhidden * (states[:, t] - candidate) * z * (1 - z)
            dinputs[:, t, 2 * h:] = dnew
            drecurrent[:, t, :2 * h] = dinputs[:, t, :2 * h]
            drecurrent[:, t, 2 * h:] = dnew * r
            dhidden = dhidden * z + drecurrent[:, t] @ self.weight_hh.data.T
        self.weight_hh.grad += states[:, :-1].reshape(-1, h).T @ drecurrent.reshape(-1, 3 * h)
        self.bias_hh.grad += drecurrent.sum(axis=(0, 1))
        self.weight_ih.grad += x.reshape(-1, self.input_size).T @ dinputs.reshape(-1, 3 * h)
        self.bias_ih.grad += dinputs.sum(axis=(0, 1))
        return dinputs @ self.weight_ih.data.T

    def __repr__(self) -> str:
        return f"GRU({self.input_size}, {self.hidden_size}, return_sequences={self.return_sequences})"
