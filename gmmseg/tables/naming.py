"""Short segment names from the features that tell a segment apart ("recent, frequent")."""

from __future__ import annotations

__all__ = ["segment_names"]

#: Words for segment names: column -> (word when high, word when low).
NAME_WORDS = {
    "recency": ("lapsed", "recent"),
    "frequency": ("frequent", "one-off"),
    "monetary": ("high spend", "low spend"),
    "tenure": ("long-standing", "new"),
    "average_order_value": ("big baskets", "small baskets"),
    "quantity": ("many items", "few items"),
}
#: A standardized difference at least this large names a segment.
NAME_THRESHOLD = 0.5


def _word(item, prefix: str = "") -> str | None:
    if item["kind"] == "binary":  # a share, not "high partner": "62% partner", "40% plan = 2"
        level = "" if item["level"] == 1 else f" = {item['level']:g}"
        return f"{item['share']:.0%} {item['column']}{level}"
    if item["kind"] == "numeric":
        high, low = NAME_WORDS.get(item["column"].lower(), (f"high {item['column']}", f"low {item['column']}"))
        return prefix + (high if item["std_diff"] > 0 else low)
    if item["lift"] > 1:
        return f"{item['column']} {item['level']}"
    return None


def segment_names(distinguishing) -> list[str]:
    """Up to three words from the features with a standardized difference of 0.5 or more
    (or a category lift); "fairly ..." from the strongest feature when none is that large.
    Names that would repeat get the next distinguishing word, then a number.

    Parameters
    ----------
    distinguishing : list of list of dict
        :func:`~gmmseg.tables.profiles.distinguishing_features`, one list per segment.

    Returns
    -------
    list of str
        One distinct name per segment ("typical" when nothing stands out).
    """
    words_per = []
    for items in distinguishing:
        words = [w for w in (_word(i) for i in items if i["importance"] >= NAME_THRESHOLD) if w]
        if not words and items:
            words = [w for w in (_word(i, "fairly ") for i in items[:1]) if w]
        extra = [w for w in (_word(i) for i in items if i["importance"] < NAME_THRESHOLD) if w]
        words_per.append((words, extra))
    names = [", ".join(w[:3]) or "typical" for w, _ in words_per]
    for i in range(len(names)):
        clash = [j for j, other in enumerate(names) if other == names[i] and j != i]
        if len(clash) == 1:
            # two segments with the same words: the one more extreme on the numeric
            # feature where they differ most gets "very" on that feature's word
            j = clash[0]
            di = {it["column"]: it for it in distinguishing[i] if it["kind"] == "numeric"}
            dj = {it["column"]: it for it in distinguishing[j] if it["kind"] == "numeric"}
            common = [c for c in di if c in dj]
            if common:
                col = max(common, key=lambda c: abs(di[c]["std_diff"] - dj[c]["std_diff"]))
                winner = i if abs(di[col]["std_diff"]) > abs(dj[col]["std_diff"]) else j
                item = (di if winner == i else dj)[col]
                word = _word(item)
                words = words_per[winner][0][:3]
                if word in words:
                    words = [("very " + w) if w == word else w for w in words]
                else:
                    words = [*words, "very " + word]
                names[winner] = ", ".join(words)
    seen: dict[str, int] = {}
    unique = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        unique.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return unique
