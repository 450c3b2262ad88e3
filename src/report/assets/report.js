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

  const fontFamily = getComputedStyle(document.body).fontFamily;
  const charts = [];
  const failures = [];
  for (const element of document.querySelectorAll('.chart')) {
    try {
      const option = JSON.parse(document.getElementById(element.dataset.option).textContent);
      const chart = echarts.init(element, null, { renderer: 'svg' });
      chart.setOption(prepare(option, fontFamily));
      charts.push(chart);
    } catch (error) {
      failures.push(element.id + ': ' + error);
      element.textContent = 'This chart could not be drawn: ' + error;
      console.error('userlake report: chart ' + element.id + ' could not be drawn', error);
    }
  }
  window.addEventListener('resize', () => charts.forEach((chart) => chart.resize()));
  window.userlakeReport = { ready: true, charts: charts.length, failures: failures };
})();
