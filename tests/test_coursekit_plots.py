import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from coursekit.plots import COURSE_STYLE, image_grid, use_course_style  # noqa: E402


def test_image_grid_is_opaque_white_for_dark_mode() -> None:
    fig = image_grid(
        torch.rand(5, 8, 8, generator=torch.Generator().manual_seed(0)),
        titles=[str(i) for i in range(5)],
        ncols=3,
    )
    assert fig.get_facecolor() == (1.0, 1.0, 1.0, 1.0)
    shown = [ax for ax in fig.axes if ax.images]
    assert len(shown) == 5 and shown[4].get_title() == "4"
    plt.close(fig)


def test_image_grid_validates_input() -> None:
    with pytest.raises(ValueError):
        image_grid([])
    with pytest.raises(ValueError, match="titles"):
        image_grid([torch.zeros(2, 2)], titles=["a", "b"])


def test_course_style_applies() -> None:
    with matplotlib.rc_context():
        use_course_style()
        assert matplotlib.rcParams["savefig.transparent"] is False
        assert matplotlib.rcParams["figure.facecolor"] == COURSE_STYLE["figure.facecolor"]
