// Orders: sums a list of orders per customer, biggest spender first.
//
// Input:  {"orders": [{"customer": "ada", "amount": 12.5}, ...]}
// Result: {"customers": [{"customer": "ada", "orders": 2, "total": 20}, ...],
//          "orders": 3, "total": 27.5}
// Customers are sorted by total, largest first, then by name; amounts are
// rounded to cents. An order without a customer or a numeric amount throws,
// which fails the invocation with the reason.
'use strict';

function cents(order, i) {
	if (!order || typeof order.customer !== 'string')
		throw new TypeError(`order ${i} has no customer`);
	if (typeof order.amount !== 'number')
		throw new TypeError(`order ${i} has no numeric amount`);
	return Math.round(order.amount * 100);
}

exports.main = async (args) => {
	const orders = args && args.orders !== undefined ? args.orders : [];
	if (!Array.isArray(orders))
		throw new TypeError('orders must be a list');
	const per = new Map();
	orders.forEach((order, i) => {
		const c = cents(order, i);
		const seen = per.get(order.customer) || { orders: 0, cents: 0 };
		per.set(order.customer, { orders: seen.orders + 1, cents: seen.cents + c });
	});
	const ranked = [...per.entries()].sort((a, b) =>
		b[1].cents - a[1].cents || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
	let total = 0;
	for (const [, v] of ranked)
		total += v.cents;
	return {
		customers: ranked.map(([customer, v]) =>
			({ customer, orders: v.orders, total: v.cents / 100 })),
		orders: orders.length,
		total: total / 100,
	};
};
