// Word frequencies of args.text, with the bundled textkit package from
// node_modules. Deployed as a zip (this file is the default handler,
// index.main).
//
// Input:  {"text": "the cat and the hat", "top": 2}
// Result: {"words": 5, "top": [["the", 2], ["and", 1]]}
'use strict';

const textkit = require('textkit');

exports.main = (args) => {
	const text = args && args.text !== undefined ? args.text : '';
	if (typeof text !== 'string')
		throw new TypeError('text must be a string');
	const top = args && args.top !== undefined ? args.top : 3;
	if (!Number.isInteger(top) || top < 1)
		throw new TypeError('top must be a positive integer');
	const tokens = textkit.tokenize(text);
	return { words: tokens.length, top: textkit.mostCommon(tokens, top) };
};
