"""What a person reads: terminal summaries and self-contained HTML reports."""
