"""The SVG chart helpers and number formats: escaping, empty states, scales."""

from decimal import Decimal

import pytest

from arena_project.hub import charts, formatting


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "—"),
        (0, "$0.00"),
        (Decimal("1234.567"), "$1,234.57"),
        (Decimal("0.01"), "$0.01"),
        (Decimal("0.0021"), "$0.0021"),
        (Decimal("0.000210"), "$0.00021"),
        (Decimal("-2.5"), "-$2.50"),
        ("0.5", "$0.50"),
        ("not money", "—"),
        (float("nan"), "—"),
    ],
)
def test_money(value, text):
    assert formatting.money(value) == text


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (None, "—"),
        (0, "0 ms"),
        (850, "850 ms"),
        (1234, "1.2 s"),
        (125_000, "2 min 05 s"),
        (3_720_000, "1 h 02 min"),
    ],
)
def test_duration(ms, text):
    assert formatting.duration_ms(ms) == text


def test_percent_count_compact_ratio():
    assert formatting.percent(0.823) == "82%"
    assert formatting.percent(0.8234, 1) == "82.3%"
    assert formatting.percent(None) == "—"
    assert formatting.count(1234567) == "1,234,567"
    assert formatting.compact(950) == "950"
    assert formatting.compact(12_345) == "12.3k"
    assert formatting.compact(4_100_000) == "4.1M"
    assert formatting.ratio(1, 0) is None
    assert formatting.ratio(1, 4) == 0.25


def test_nice_ceiling_and_ticks():
    assert charts.nice_ceiling(0) == 1.0
    assert charts.nice_ceiling(7) == 10
    assert charts.nice_ceiling(2.1) == 2.5
    assert charts.nice_ceiling(0.03) == pytest.approx(0.05)
    assert charts.axis_ticks(6, integer=True) == [0, 2, 4, 6]
    assert charts.axis_ticks(2, integer=True) == [0, 1, 2]
    assert charts.axis_ticks(0, integer=True) == [0, 1]
    assert charts.axis_ticks(1.0) == [0, 0.25, 0.5, 0.75, 1.0]


def test_bar_chart_escapes_labels_and_scales_to_the_largest_bar():
    svg = charts.bar_chart([("<b>x</b>", 4), ("y&z", 2)], title='A "chart" <script>')
    assert "<b>" not in svg and "<script>" not in svg
    assert "&lt;b&gt;x&lt;/b&gt;" in svg
    assert "y&amp;z" in svg
    assert 'aria-label="A &quot;chart&quot; &lt;script&gt;"' in svg
    assert svg.count('<rect class="bar') == 2
    assert svg.startswith('<div class="chart-scroll"><svg') and svg.endswith("</svg></div>")


def test_charts_without_data_say_so():
    assert "No data yet." in charts.bar_chart([], title="t")
    assert "nothing <here>" not in charts.histogram([0, 0], [0, 0.5, 1], title="t", empty="nothing <here>")
    assert "nothing &lt;here&gt;" in charts.histogram([0, 0], [0, 0.5, 1], title="t", empty="nothing <here>")
    assert "chart-empty" in charts.line_chart([charts.Series("s", [])], title="t")
    assert "chart-empty" in charts.scatter([], title="t", x_label="x", y_label="y")
    assert "No calls recorded." in charts.timeline([], title="t")


def test_histogram_needs_one_more_edge_than_counts():
    with pytest.raises(ValueError, match="one more edge"):
        charts.histogram([1, 2], [0, 1], title="t")
    svg = charts.histogram([1, 3], [0, 0.5, 1], title="t", edge_format=formatting.percent, unit="debates")
    assert "50% to 100%: 3 debates" in svg


def test_line_chart_legend_only_for_several_series():
    one = charts.line_chart([charts.Series("a", [(0, 1), (1, 2)])], title="t")
    two = charts.line_chart(
        [charts.Series("a", [(0, 1), (1, 2)]), charts.Series("<b>", [(0, 2), (1, 1)])], title="t"
    )
    assert "legend" not in one
    assert two.count('class="legend ') == 2
    assert "&lt;b&gt;" in two


def test_scatter_skips_overlapping_labels_but_keeps_tooltips():
    points = [charts.Point(1, 0.5, f"profile-{i}") for i in range(3)]
    svg = charts.scatter(points, title="t", x_label="x", y_label="y", y_range=(0, 1))
    assert svg.count("<circle") == 3
    assert svg.count('class="point-label"') == 1
    assert "profile-2: x" in svg


def test_timeline_bars_are_proportional_and_kinds_sanitised():
    spans = [charts.Span("a", 0, 100, "tool"), charts.Span("b", 100, 300, 'x" onload="y')]
    svg = charts.timeline(spans, title="t", width=570, label_width=170)
    # Scale: 0..400 ms over 170..558 px.
    assert 'class="span span-tool" x="170" y="15" width="97"' in svg
    assert 'onload="' not in svg
    assert "span-xonloady" in svg


def test_scatter_diagonal_is_drawn_only_when_asked():
    dots = [charts.Point(0.4, 0.6, "a"), charts.Point(0.7, 0.5, "b")]
    plain = charts.scatter(dots, title="t", x_label="x", y_label="y", x_range=(0, 1), y_range=(0, 1))
    assert 'class="reference"' not in plain
    calibrated = charts.scatter(
        dots, title="t", x_label="x", y_label="y", x_range=(0, 1), y_range=(0, 1), diagonal=True
    )
    # y = x from (0, 0) at the bottom left to (1, 1) at the top right of the plotting area
    assert '<line class="reference" x1="56" y1="220" x2="548" y2="24">' in calibrated


def test_signed_percent_and_intervals():
    from arena_project.hub.templatetags.hub_format import interval

    assert formatting.signed_percent(0.0123) == "+1.2%"
    assert formatting.signed_percent(-0.05, 2) == "-5.00%"
    assert formatting.signed_percent(None) == "—"
    assert interval((0.25, 0.5)) == "25% to 50%"
    assert interval((-0.01, 0.035), "signed_percent") == "-1.0% to +3.5%"
    assert interval((-0.2, 1.3), "ratio") == "-0.20 to 1.30"
    assert interval((None, 0.3)) == "—"


def test_multi_line_chart_names_every_series_escaped():
    from arena_project.hub.templatetags.hub_charts import multi_line_chart

    series = [
        charts.Series("<b>steady</b>", [(1.0, 100.0), (2.0, 101.0)]),
        charts.Series("random", [(1.0, 100.0)]),
    ]
    svg = multi_line_chart(series, "Equity")
    assert svg.count('class="line series-') == 2
    assert "&lt;b&gt;steady&lt;/b&gt;" in svg and "<b>" not in svg
    assert "$101" in svg  # dollars on the y axis
