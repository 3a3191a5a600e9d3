// Hello: greets args.name (default "world") and logs whom it greeted.
exports.main = (args) => {
	const name = args && args.name !== undefined ? args.name : 'world';
	if (typeof name !== 'string' || name === '')
		throw new TypeError('name must be a non-empty string');
	console.log(`greeting ${name}`);
	return { greeting: `Hello, ${name}!` };
};
