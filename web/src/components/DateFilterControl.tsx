import { customRangeError, type DateFilter, type FilterKind } from "../dates";

const OPTIONS: Array<[FilterKind, string]> = [
  ["upcoming", "Upcoming"],
  ["tonight", "Tonight"],
  ["weekend", "This weekend"],
  ["week", "Next 7 days"],
  ["custom", "Pick dates"],
];

interface Props {
  value: DateFilter;
  disabled: boolean;
  onChange(filter: DateFilter): void;
}

/** Date filter chips (a radio group, so arrow keys move between them) and a custom range. */
export default function DateFilterControl({ value, disabled, onChange }: Props) {
  const error = customRangeError(value);
  return (
    <fieldset className="filter" disabled={disabled}>
      <legend className="visually-hidden">When</legend>
      <div className="filter__chips">
        {OPTIONS.map(([kind, label]) => (
          <label key={kind} className="chip">
            <input
              type="radio"
              name="when"
              value={kind}
              checked={value.kind === kind}
              onChange={() => onChange({ ...value, kind })}
            />
            <span>{label}</span>
          </label>
        ))}
      </div>
      {value.kind === "custom" && (
        <div className="filter__range">
          <label>
            From
            <input type="date" value={value.start} onChange={(e) => onChange({ ...value, start: e.target.value })} />
          </label>
          <label>
            To
            <input
              type="date"
              value={value.end}
              min={value.start || undefined}
              aria-invalid={error ? true : undefined}
              aria-describedby={error ? "range-error" : undefined}
              onChange={(e) => onChange({ ...value, end: e.target.value })}
            />
          </label>
          {error && (
            <p className="field-error" id="range-error" role="alert">
              {error}
            </p>
          )}
        </div>
      )}
    </fieldset>
  );
}
