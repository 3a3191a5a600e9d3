"""Echo: returns its input unchanged (the benchmark's Python function)."""


def main(args):
    return args
