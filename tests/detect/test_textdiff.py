from miscomp.detect.textdiff import (
    char_edits,
    describe_edits,
    normalise_text,
    span_box,
    token_changes,
)


def test_normalise_drops_spaces_and_case():
    assert normalise_text(" kx7  48\t21 ") == "KX74821"
    assert normalise_text("Kx7", case_sensitive=True) == "Kx7"


def test_substitution_insertion_deletion_with_positions():
    (sub,) = char_edits("KX7", "KXZ")
    assert (sub.op, sub.a_start, sub.a_text, sub.b_text, sub.label) == ("replace", 2, "7", "Z", "7→Z")
    (ins,) = char_edits("AB", "AXB")
    assert (ins.op, ins.a_start, ins.b_text, ins.label) == ("insert", 1, "X", "+X@1")
    (dele,) = char_edits("A1B", "AB")
    assert (dele.op, dele.a_start, dele.a_text, dele.label) == ("delete", 1, "1", "-1@1")
    assert char_edits("SAME", "SAME") == []
    assert describe_edits(char_edits("3A8", "8A3")) == "3→8, 8→3"


def test_span_box_is_proportional_and_clipped():
    line = (100, 10, 80, 20)  # 4 characters, 20 px each
    assert span_box(line, 4, 2, 3) == (140, 10, 20, 20)
    assert span_box(line, 4, 0, 4) == line
    x, _, w, _ = span_box(line, 4, 0, 0)  # insertion before the first character: clipped to the line
    assert x == 100 and 1 <= w <= 10


def test_token_changes_numbers_and_nouns():
    c = token_changes("two cars parked on a street", "three cars parked on a street")
    assert c.number_changed and c.numbers_removed == ("2",) and c.numbers_added == ("3",)
    assert not c.word_changed
    c = token_changes("a price tag showing $1,284.50", "a price tag showing $1,264.50")
    assert c.numbers_removed == ("1284.50",) and c.numbers_added == ("1264.50",)
    c = token_changes("a dog sitting on a sofa", "a cat sitting on a sofa")
    assert c.words_removed == ("dog",) and c.words_added == ("cat",) and not c.number_changed
    # plural folding and function words do not count as changes
    assert not token_changes("a car on the road", "the cars on a road").word_changed
    assert "numbers ['2'] → ['3']" in token_changes("2 men", "3 men").describe()
