// Jest setup provided by Grafana scaffolding
import './.config/jest-setup';

// Scenes (LazyLoader, AutoSizer) need browser APIs jsdom lacks; the ResizeObserver reports a real size so that
// VizPanel renders its body.
class MockIntersectionObserver {
  constructor(cb) {
    this.cb = cb;
  }
  observe(el) {
    this.cb([{ isIntersecting: true, target: el }], this);
  }
  unobserve() {}
  disconnect() {}
}
global.IntersectionObserver = MockIntersectionObserver;
global.ResizeObserver = class {
  constructor(cb) {
    this.cb = cb;
  }
  observe(el) {
    this.cb([{ target: el, contentRect: { x: 0, y: 0, top: 0, left: 0, bottom: 400, right: 800, width: 800, height: 400 } }], this);
  }
  unobserve() {}
  disconnect() {}
};
