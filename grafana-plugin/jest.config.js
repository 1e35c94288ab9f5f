// force timezone to UTC to allow tests to work regardless of local timezone
process.env.TZ = 'UTC';

const base = require('./.config/jest.config');
const swc = base.transform['^.+\\.(t|j)sx?$'];

module.exports = {
  ...base,
  // d3-color 3.1.1 points `main` at an .mjs file; the scaffolded transform only matches .js/.ts(x).
  transform: { ...base.transform, '^.+\\.mjs$': swc },
};
