"""What the chapters call, grouped by topic: decay/ (chapters 1-3 and 10), grokking/
(chapters 4-6), goals/ (chapters 7-9), and the book's figure style (plots)."""
