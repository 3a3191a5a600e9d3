"""Orders: sums a list of orders per customer, biggest spender first.

Input:  {"orders": [{"customer": "ada", "amount": 12.5}, ...]}
Result: {"customers": [{"customer": "ada", "orders": 2, "total": 20.0}, ...],
         "orders": 3, "total": 27.5}
Customers are sorted by total, largest first, then by name; amounts are
rounded to cents. An order without a customer or a numeric amount raises
ValueError, which fails the invocation with the reason.
"""


def _cents(order, i):
    if not isinstance(order, dict) or not isinstance(order.get("customer"), str):
        raise ValueError("order %d has no customer" % i)
    amount = order.get("amount")
    if isinstance(amount, bool) or not isinstance(amount, (int, float)):
        raise ValueError("order %d has no numeric amount" % i)
    return order["customer"], round(amount * 100)


def main(args):
    orders = args.get("orders", []) if isinstance(args, dict) else None
    if not isinstance(orders, list):
        raise ValueError("orders must be a list")
    per = {}
    for i, order in enumerate(orders):
        customer, cents = _cents(order, i)
        count, total = per.get(customer, (0, 0))
        per[customer] = (count + 1, total + cents)
    ranked = sorted(per.items(), key=lambda kv: (-kv[1][1], kv[0]))
    return {
        "customers": [
            {"customer": c, "orders": n, "total": t / 100} for c, (n, t) in ranked
        ],
        "orders": len(orders),
        "total": sum(t for _, t in per.values()) / 100,
    }
