import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zpipe.text.match import Box, edit_distance, match_lines, ned, normalize, reading_order, summarize


@pytest.mark.parametrize(
    "a, b, dist, sim",
    [
        ("", "", 0, 1.0),
        ("abc", "", 3, 0.0),
        ("", "abc", 3, 0.0),
        ("kitten", "sitting", 3, 1 - 3 / 7),
        ("春节快乐", "春节快乐", 0, 1.0),
        ("未来已来", "末来已来", 1, 0.75),  # one look-alike substitution
        ("春节快乐", "春节快", 1, 0.75),  # one missing character
        ("春节快乐", "春节快乐啊", 1, 0.8),  # one extra character: max(len) = 5
        ("abcdefgh", "abcdefgx", 1, 0.875),
        ("flaw", "lawn", 2, 0.5),
    ],
)
def test_edit_distance_and_ned_known_pairs(a, b, dist, sim):
    assert edit_distance(a, b) == dist
    assert edit_distance(b, a) == dist
    assert ned(a, b) == pytest.approx(sim)


def test_normalize_whitespace_case_width_punct():
    assert normalize(" Happy  New\tYear ") == "happynewyear"
    assert normalize("ＨＥＬＬＯ　１２３！") == "hello123!"
    assert normalize("“你好”，世界。") == '"你好",世界.'
    assert normalize("上海 · 人民广场") == normalize("上海・人民广场") == "上海·人民广场"
    assert normalize("你好，世界！", ignore_punct=True) == "你好世界"


def _b(text, x0, y0, x1, y1):
    return Box(text, x0, y0, x1, y1)


def test_reading_order_rows_then_left_to_right():
    boxes = [_b("C", 10, 300, 50, 340), _b("B", 200, 105, 300, 150), _b("A", 10, 100, 150, 150)]
    assert [b.text for b in reading_order(boxes)] == ["A", "B", "C"]


def test_split_boxes_are_joined_in_reading_order():
    boxes = [
        _b("快乐", 400, 100, 600, 200),
        _b("春节", 100, 102, 300, 198),
        _b("Happy New", 100, 300, 500, 350),
        _b("Year", 520, 302, 640, 350),
        _b("上海市人民", 100, 800, 500, 840),  # body wrapped over two rows
        _b("广场", 100, 850, 200, 890),
    ]
    scores, left = match_lines(boxes, ["春节快乐", "HAPPY NEW YEAR", "上海市人民广场"])
    assert [s.passed for s in scores] == [True, True, True]
    assert scores[0].found == "春节快乐"
    assert scores[1].found == "Happy New Year"
    assert left == []


def test_wrong_missing_extra_characters_fail_exact_rule():
    boxes = [_b("末来已来", 0, 0, 400, 100), _b("Hello", 0, 200, 300, 260)]
    scores, _ = match_lines(boxes, ["未来已来", "Hello!", "缺失"])
    assert [s.exact for s in scores] == [False, False, False]
    assert scores[0].ned == pytest.approx(0.75)
    assert scores[2].found == "" and scores[2].ned == 0.0
    out = summarize(scores)
    assert out["pass"] is False
    assert out["lines"][0] == {"expected": "未来已来", "found": "末来已来", "ned": 0.75, "exact": False, "pass": False}


def test_ned_rule_threshold():
    boxes = [_b("abcdefgx", 0, 0, 400, 100)]
    assert match_lines(boxes, ["abcdefgh"], rule="ned", min_ned=0.85)[0][0].passed
    assert not match_lines(boxes, ["abcdefgh"], rule="ned", min_ned=0.9)[0][0].passed
    with pytest.raises(ValueError, match="rule must be one of exact, ned, got 'fuzzy'"):
        match_lines(boxes, ["x"], rule="fuzzy")


def test_unmatched_boxes_reported():
    boxes = [_b("标题", 0, 0, 200, 100), _b("乱码字", 0, 500, 200, 540)]
    scores, left = match_lines(boxes, ["标题"])
    assert scores[0].passed and [b.text for b in left] == ["乱码字"]


def test_sans_serif_capital_i_and_lowercase_l_are_one_letter():
    assert normalize("The Future Is Here") == normalize("TheFuturelsHere")
    assert normalize("Illinois") == normalize("lllinois")
    assert normalize("info") != normalize("lnfo")  # a lowercase i has its dot: still distinct

TEXT = st.text(alphabet=st.sampled_from(list("未末己已土士人入abcAB ，。!-一3")), max_size=12)


@settings(max_examples=200, deadline=None)
@given(TEXT, TEXT)
def test_ned_properties(a, b):
    s = ned(a, b)
    assert 0.0 <= s <= 1.0
    assert s == ned(b, a)
    assert (s == 1.0) == (a == b)
    assert edit_distance(a, b) <= max(len(a), len(b))


@settings(max_examples=200, deadline=None)
@given(TEXT)
def test_normalize_is_idempotent(a):
    for ignore in (False, True):
        n = normalize(a, ignore_punct=ignore)
        assert normalize(n, ignore_punct=ignore) == n and not any(c.isspace() for c in n)


def test_overlapping_boxes_do_not_double_count_glyphs():
    boxes = [_b("New A", 33, 264, 207, 335), _b("Arrivals", 171, 266, 472, 331)]
    scores, _ = match_lines(boxes, ["New Arrivals"])
    assert scores[0].passed and scores[0].found == "New Arrivals"
    # no overlap: a repeated letter is real text and counts
    boxes = [_b("New A", 33, 264, 200, 335), _b("Arrivals", 215, 266, 472, 331)]
    assert not match_lines(boxes, ["New Arrivals"])[0][0].passed
    # overlap that cannot hold the shared text: nothing is trimmed
    boxes = [_b("春节快乐乐", 0, 0, 500, 100), _b("乐", 495, 0, 600, 100)]
    assert match_lines(boxes, ["春节快乐乐乐"])[0][0].passed


@pytest.mark.parametrize(
    "expected, found, same",
    [
        ("10月12日—20日", "10月12日一20日", True),  # a dash beside CJK looks exactly like 一
        ("10月12日-20日", "10月12日一20日", True),
        ("A-日", "A一日", True),
        ("18:00-24:00", "18:00一24:00", True),  # 一 between digits is a misread dash
        ("Mid-Autumn", "MidAutumn", True),  # punctuation ignored
        ("十一月", "十月", False),  # a real 一 is never dropped
        ("一", "", False),
        ("¥199 起 | 官网", "￥199起丨官网", True),
    ],
)
def test_dash_and_yi_context_fold(expected, found, same):
    assert (normalize(expected, ignore_punct=True) == normalize(found, ignore_punct=True)) is same


def test_characters_the_ocr_cannot_read_are_wildcards():
    readable = frozenset("忧郁的心春节快乐")  # pretend 鬱 is outside the recogniser's dictionary
    boxes = [_b("忧郁的心", 0, 0, 400, 100)]
    s = match_lines(boxes, ["忧鬱的心"], readable=readable)[0][0]
    assert s.passed and s.exact and s.ned == 1.0
    assert s.to_dict()["unverified"] == ["鬱"]
    # the readable characters are still checked
    s = match_lines([_b("忧郁的必", 0, 0, 400, 100)], ["忧鬱的心"], readable=readable)[0][0]
    assert not s.passed and s.ned == 0.75
    # OCR may also drop the unreadable character
    assert match_lines([_b("忧的心", 0, 0, 400, 100)], ["忧鬱的心"], readable=readable)[0][0].passed
    # without a dictionary nothing is a wildcard
    assert not match_lines(boxes, ["忧鬱的心"])[0][0].passed
    assert edit_distance("a?c", "abc", frozenset("?")) == 0 and edit_distance("a?c", "ac", frozenset("?")) == 0
    assert edit_distance("a?c", "abbc", frozenset("?")) == 1
