// Echo: returns its input unchanged (the benchmark's Node.js function).
exports.main = (args) => args;
