"""Diagrams of the course's structures, drawn in code with matplotlib.

They live in the library (not in the notebooks) so that they are tested and re-drawn on every build.
Import the module you need; nothing heavy is re-exported here::

    from cs502_lib.diagrams import recurrent, attention
    fig = recurrent.draw_lstm_cell()

Modules
-------
``_draw``
    Small drawing primitives shared by every diagram: :func:`~cs502_lib.diagrams._draw.new_diagram`,
    rounded boxes with centred text, arrows between points or boxes, labelled tensor/grid blocks,
    one colour palette per role (input, query, key, value, attention, norm, feed-forward, output)
    and the legibility helpers the tests use (font size on the page, text inside the figure).
``recurrent``
    The RNN unrolled in time; the LSTM cell with its gates i, f, g, o, the cell-state path and the
    hidden state; the GRU cell (chapters 2 and 3).
``attention``
    Q, K, V on a tiny numeric example (scores, scaling by sqrt(d_k), softmax, weighted sum), with the
    numbers computed by :func:`cs502_lib.scaled_dot_product_attention`; multi-head split, per-head
    attention and merge with the shapes written on the blocks (chapters 4 and 5).

Other modules (the Transformer's blocks, masks, the DNABERT pipeline) are added by the chapters that need them.
"""
