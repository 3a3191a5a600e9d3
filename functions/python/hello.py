"""Hello: greets args["name"] (default "world") and logs whom it greeted."""


def main(args):
    name = args.get("name", "world") if isinstance(args, dict) else "world"
    if not isinstance(name, str) or not name:
        raise ValueError("name must be a non-empty string")
    print("greeting %s" % name)
    return {"greeting": "Hello, %s!" % name}
