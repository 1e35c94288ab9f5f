// Bundles the harness host page (e2e/harness/host.tsx) into e2e/.serve/host.js.
const path = require('path');
module.exports = {
  mode: 'development',
  devtool: false,
  entry: path.resolve(__dirname, 'host.tsx'),
  output: { path: path.resolve(__dirname, '../.serve'), filename: 'host.js', publicPath: '/' },
  resolve: { extensions: ['.js', '.jsx', '.ts', '.tsx', '.mjs'] },
  module: {
    rules: [
      { test: /\.m?js$/, resolve: { fullySpecified: false } },
      {
        test: /\.[tj]sx?$/,
        exclude: /node_modules/,
        use: {
          loader: 'swc-loader',
          options: {
            jsc: {
              parser: { syntax: 'typescript', tsx: true },
              target: 'es2020',
              transform: { react: { runtime: 'classic' } },
            },
          },
        },
      },
      { test: /\.css$/, use: ['style-loader', 'css-loader'] },
      { test: /\.(png|jpe?g|gif|svg|woff2?|eot|ttf|otf)$/, type: 'asset/resource' },
    ],
  },
  performance: { hints: false },
  stats: 'errors-warnings',
};
