/** The city selector map: an SVG drawn from bundled TopoJSON, one button per catalog city. */

import { useEffect, useMemo, useState } from "react";
import worldUrl from "world-atlas/countries-110m.json?url";
import usUrl from "us-atlas/states-10m.json?url";
import { buildShapes, HEIGHT, makePanels, type MapShapes, place, WIDTH } from "../map/geometry";
import { titleCase } from "../text";
import type { City } from "../types";

interface Props {
  cities: City[];
  selected: string | null;
  onSelect(cityId: string): void;
}

async function loadShapes(): Promise<MapShapes> {
  const [world, us] = await Promise.all(
    [worldUrl, usUrl].map(async (url) => {
      const response = await fetch(url);
      if (!response.ok) throw new Error(`map data: HTTP ${response.status}`);
      return response.json();
    }),
  );
  return buildShapes(world, us, makePanels());
}

export default function CityMap({ cities, selected, onSelect }: Props) {
  const panels = useMemo(makePanels, []);
  const [shapes, setShapes] = useState<MapShapes | null>(null);

  useEffect(() => {
    let live = true;
    loadShapes()
      .then((s) => live && setShapes(s))
      .catch(() => live && setShapes({ panels: [] })); // markers still work without the outlines
    return () => {
      live = false;
    };
  }, []);

  return (
    <div className="map" data-ready={shapes ? "true" : "false"}>
      <svg viewBox={`0 0 ${WIDTH} ${HEIGHT}`} className="map__svg" aria-hidden="true" focusable="false">
        <defs>
          {panels.map((p) => (
            <clipPath id={`clip-${p.id}`} key={p.id}>
              <rect x={p.x} y={p.y} width={p.width} height={p.height} rx={p.id === "na" ? 0 : 10} />
            </clipPath>
          ))}
        </defs>
        {shapes?.panels.map((p) => (
          <g key={p.id} clipPath={`url(#clip-${p.id})`}>
            <rect className={`map__sea map__sea--${p.id}`} x={p.x} y={p.y} width={p.width} height={p.height} rx={p.id === "na" ? 0 : 10} />
            <path className="map__land" d={p.land} />
            <path className="map__states" d={p.states} />
            <path className="map__borders" d={p.borders} />
            {p.id === "eu" && (
              <text className="map__inset-label" x={p.x + 10} y={p.y + 16}>
                EUROPE
              </text>
            )}
          </g>
        ))}
      </svg>
      <ul className="map__markers" aria-label="Cities on the map">
        {cities.map((city) => {
          const at = place(city, panels);
          if (!at) return null;
          const active = city.id === selected;
          const label = titleCase(city.name);
          return (
            <li key={city.id} style={{ left: `${(at[0] / WIDTH) * 100}%`, top: `${(at[1] / HEIGHT) * 100}%` }}>
              <button
                type="button"
                className={`marker${active ? " marker--active" : ""}`}
                aria-pressed={active}
                aria-label={label}
                data-city={city.id}
                onClick={() => onSelect(city.id)}
              >
                <span className="marker__dot" aria-hidden="true" />
                <span className="marker__label" aria-hidden="true">
                  {label}
                </span>
              </button>
            </li>
          );
        })}
      </ul>
    </div>
  );
}
