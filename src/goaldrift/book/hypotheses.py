"""The hypotheses the book tests (from the research brief), in one place, so
the front page can report a verdict for each from the executed chapters."""

HYPOTHESES: dict[str, str] = {
    "H1": "A weight direction the loss does not use decays as (1-ηλ)^t: under GD any such "
          "direction, under decoupled AdamW only a coordinate with exactly zero gradient.",
    "H2": "Under L2 the cheaper of two equally good solutions wins; for factorised weights "
          "L2 becomes sparsity and low rank.",
    "H3": "Grokking's cleanup phase is weight decay at work, and its timing scales with 1/(ηλ).",
    "H4": "An aligned goal drifts to a simpler proxy that agrees with it on the training data, "
          "on a timescale set by ηλ.",
    "H5": "Freezing the weights that carry the goal stops the drift; freezing as many other "
          "weights does not.",
    "H6": "Memory outside weight decay bounds drift only if the path that reads it is also protected.",
    "H7": "A gradient hacker can hold a goal against weight decay, at a price in training loss "
          "that theory predicts.",
    # H8 and H9 were restated in issue 27 so that their claims can test them: H8 said "at the
    # H1 rate" (now a law beside it, with the degree-2 rate), H9 said the integrated decay
    # "decides whether any of this matters" (no claim could test that).
    "H8": "A goal used only on inputs never seen during continued training is erased by weight decay "
          "alone, on the ηλt clock (and kept without decay).",
    "H9": "Published fine-tuning recipes integrate too little decay (Σ η_t λ) to erase what pretraining "
          "holds; whether a pretraining recipe integrates enough is a law beside it.",
}
