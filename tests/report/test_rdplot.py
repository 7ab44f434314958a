"""The rate-distortion figure: its legend covers no point, and points on an axis limit are whole."""

import pandas as pd

from miscomp.report.rdplot import rd_figure


def _points() -> pd.DataFrame:
    # the shape of `make scan`'s codec settings: a learned codec at a low bpp with 0 findings per image
    rows = [
        ("jpeg-quality10", "jpeg", 0.35, 26.1, 1.2),
        ("webp-quality5", "webp", 0.21, 27.0, 0.0),
        ("bmshj2018-factorized-q1", "bmshj2018-factorized", 0.13, 26.9, 1.5),
        ("taef2-bits3", "taef2", 0.75, 24.4, 3.0),
    ]
    return pd.DataFrame(
        [
            {
                "codec_tag": t,
                "codec": c,
                "params": {},
                "curve": c,
                "bpp": b,
                "psnr": p,
                "per_image": n,
                "images": 6,
            }
            for t, c, b, p, n in rows
        ]  # fmt: skip
    )


def test_legend_is_outside_both_charts_and_points_are_not_clipped():
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = rd_figure(_points(), [])
    canvas = FigureCanvasAgg(fig)
    canvas.draw()  # lays the figure out
    renderer = canvas.get_renderer()
    (legend,) = fig.legends
    box = legend.get_window_extent(renderer)
    for ax in fig.axes:
        assert not box.overlaps(ax.get_window_extent(renderer)), "the legend covers a chart"
        assert not ax.get_legend()  # no legend inside a chart
        for line in ax.get_lines():
            assert line.get_clip_on() is False  # a point on the y=0 limit is drawn whole
    assert len(legend.get_texts()) == 4


def test_the_highest_rate_is_not_on_the_right_edge():
    fig = rd_figure(_points(), [])
    for ax in fig.axes:
        left, right = ax.get_xlim()
        assert left == 0 and right > 1.03 * _points()["bpp"].max()
