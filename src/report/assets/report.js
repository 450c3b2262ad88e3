// The report's page script: draws each chart from its JSON option with Apache ECharts
// (inlined before this script), adding the number formatters the options name, since JSON
// cannot carry functions. Formats follow src/report/format.rs.
(function () {
  'use strict';
  const MISSING = '\u2013';
  const fixed = (digits) => new Intl.NumberFormat('en-US', {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
  const whole = fixed(0);
  const one = fixed(1);
  const two = fixed(2);
  const four = fixed(4);
  function duration(seconds) {
    const units = [[86400, 'days'], [3600, 'h'], [60, 'min']];
    for (const [size, unit] of units) {
      if (Math.abs(seconds) >= size) return one.format(seconds / size) + ' ' + unit;
    }
    return whole.format(seconds) + ' s';
  }
  const PALETTE = [
    '#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948',
    '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac', '#17becf', '#8c564b',
  ];
  const FORMATS = {
    count: (v) => whole.format(v),
    money: (v) => two.format(v),
    percent: (v) => one.format(v * 100) + '%',
    ratio: (v) => two.format(v) + '\u00d7',
    seconds: duration,
    decimal: (v) => four.format(v),
  };
  // axis ticks need no cents
  const AXIS_FORMATS = Object.assign({}, FORMATS, { money: FORMATS.count });
  function formatter(name, formats) {
    const format = (formats || FORMATS)[name] || FORMATS.count;
    return (value) => {
      if (value === null || value === undefined || value === '-' || value === '') return MISSING;
      const number = Number(value);
      return Number.isFinite(number) ? format(number) : MISSING;
    };
  }
  // A label shows the value of its point: the last element for [x, y, value] cells.
  const pointValue = (params) => (Array.isArray(params.value) ? params.value[params.value.length - 1] : params.value);

  function prepare(option, fontFamily) {
    for (const axis of [].concat(option.xAxis || [], option.yAxis || [])) {
      if (axis.format) {
        axis.axisLabel = Object.assign({}, axis.axisLabel, { formatter: formatter(axis.format, AXIS_FORMATS) });
        delete axis.format;
      }
    }
    for (const series of option.series || []) {
      if (!series.format) continue;
      const format = formatter(series.format);
      series.tooltip = Object.assign({}, series.tooltip, { valueFormatter: format });
      if (series.interval) {
        // an estimate with its confidence interval (charts::intervals)
        const withInterval = (params) => format(params.value) + ' [' + format(params.data.low) + ', ' + format(params.data.high) + ']';
        series.tooltip.formatter = (params) => params.name + '<br>' + params.seriesName + ': ' + withInterval(params);
        series.label = Object.assign({}, series.label, { formatter: withInterval });
        delete series.interval;
      } else if (series.label && series.label.show) {
        series.label.formatter = (params) => format(pointValue(params));
      }
      delete series.format;
    }
    if (option.visualMap && option.visualMap.format) {
      const format = formatter(option.visualMap.format);
      option.visualMap.formatter = (value) => format(value);
      delete option.visualMap.format;
    }
    option.textStyle = { fontFamily: fontFamily };
    // twelve distinct colours, so up to twelve channels never share one
    option.color = PALETTE;
    // drawn at once, in its final state: for printing, screenshots and slow phones
    option.animation = false;
    return option;
  }

  // Category labels along the bottom, all shown: they stay level when they fit the width
  // each category has, tilt when they do not (or break between words when the axis asks for
  // it with wrapWords), and on a narrow screen break into lines.
  const measure = document.createElement('canvas').getContext('2d');
  function fitCategoryLabels(chart, option) {
    measure.font = '12px ' + fontFamily;
    const axes = [].concat(option.xAxis || []);
    const fitted = axes.map((axis) => {
      if (axis.type !== 'category' || !axis.axisLabel || axis.axisLabel.interval !== 0) return {};
      const labels = axis.data || [];
      // the plot's width: the chart less its margins (a grid with side labels has a wide left
      // one, capped below as the side labels are)
      const grid = option.grid || {};
      const left = typeof grid.left === 'number' ? Math.min(grid.left, chart.getWidth() * 0.45) : 60;
      const right = typeof grid.right === 'number' ? grid.right : 0;
      const room = (chart.getWidth() - left - right) / Math.max(1, labels.length) - 4;
      const widest = Math.max(0, ...labels.map((label) => measure.measureText(String(label)).width));
      if (widest <= room) return { axisLabel: { rotate: 0, width: null, overflow: 'none' } };
      // labels of several words (a heatmap's columns) break between words, level
      if (axis.axisLabel.wrapWords) return { axisLabel: { rotate: 0, width: Math.max(36, room), overflow: 'break', lineHeight: 13 } };
      if (room >= 48) return { axisLabel: { rotate: 30, width: null, overflow: 'none' } };
      return { axisLabel: { rotate: 0, width: Math.max(36, room), overflow: 'breakAll' } };
    });
    if (fitted.some((axis) => axis.axisLabel)) chart.setOption({ xAxis: fitted });
    // labels down the side take at most 45% of the width; longer ones break into lines
    const side = [].concat(option.yAxis || []);
    const widest = option.grid && typeof option.grid.left === 'number' ? option.grid.left : 0;
    const room = Math.floor(chart.getWidth() * 0.45);
    if (side.some((axis) => axis.type === 'category') && widest > 0) {
      const left = Math.min(widest, room);
      chart.setOption({
        grid: { left: left },
        yAxis: side.map((axis) => (axis.type === 'category'
          ? { axisLabel: { width: left - 12, overflow: 'break', lineHeight: 13 } }
          : {})),
      });
    }
  }

  const fontFamily = getComputedStyle(document.body).fontFamily;
  const charts = [];
  const failures = [];
  for (const element of document.querySelectorAll('.chart')) {
    try {
      const option = prepare(JSON.parse(document.getElementById(element.dataset.option).textContent), fontFamily);
      const chart = echarts.init(element, null, { renderer: 'svg' });
      chart.setOption(option);
      fitCategoryLabels(chart, option);
      charts.push({ chart: chart, option: option });
    } catch (error) {
      failures.push(element.id + ': ' + error);
      element.textContent = 'This chart could not be drawn: ' + error;
      console.error('userlake report: chart ' + element.id + ' could not be drawn', error);
    }
  }
  window.addEventListener('resize', () => charts.forEach(({ chart, option }) => {
    chart.resize();
    fitCategoryLabels(chart, option);
  }));
  window.userlakeReport = { ready: true, charts: charts.length, failures: failures };
})();
