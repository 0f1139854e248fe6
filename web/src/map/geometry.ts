/**
 * The city map, drawn offline from bundled TopoJSON (us-atlas states, world-atlas
 * countries): the contiguous US with its neighbours in an Albers-style conic projection,
 * and Europe in an inset, both in one 960x560 SVG coordinate space.
 */

import { geoConicEqualArea, geoPath, type GeoProjection } from "d3-geo";
import { feature, mesh } from "topojson-client";
import type { GeometryCollection, Topology } from "topojson-specification";
import type { City } from "../types";

export const WIDTH = 960;
export const HEIGHT = 560;

export interface Panel {
  id: string;
  label: string;
  x: number;
  y: number;
  width: number;
  height: number;
  projection: GeoProjection;
}

export interface MapShapes {
  panels: Array<Panel & { land: string; borders: string; states: string }>;
}

function corners(west: number, south: number, east: number, north: number) {
  const mid = (west + east) / 2;
  return {
    type: "MultiPoint" as const,
    coordinates: [
      [west, south],
      [east, south],
      [west, north],
      [east, north],
      [mid, north],
      [mid, south],
    ],
  };
}

export function makePanels(): Panel[] {
  const northAmerica = geoConicEqualArea().parallels([29.5, 45.5]).rotate([96, 0]);
  northAmerica.fitExtent(
    [
      [16, 16],
      [WIDTH - 16, HEIGHT - 16],
    ],
    corners(-124.5, 24.5, -67, 49.5),
  );
  const inset = { x: WIDTH - 262, y: 12, width: 250, height: 176 };
  const europe = geoConicEqualArea().parallels([43, 62]).rotate([-8, 0]);
  europe.fitExtent(
    [
      [inset.x + 10, inset.y + 22],
      [inset.x + inset.width - 10, inset.y + inset.height - 10],
    ],
    corners(-9, 43, 19, 57),
  );
  return [
    { id: "na", label: "United States and Canada", x: 0, y: 0, width: WIDTH, height: HEIGHT, projection: northAmerica },
    { id: "eu", label: "Europe", ...inset, projection: europe },
  ];
}

/** Which panel shows a city: Europe's inset for European longitudes, else the main map. */
export function panelFor(city: City, panels: Panel[]): Panel {
  return city.coordinates.lng > -30 ? panels[1] : panels[0];
}

/** A city's marker position in SVG units. */
export function place(city: City, panels: Panel[]): [number, number] | null {
  const point = panelFor(city, panels).projection([city.coordinates.lng, city.coordinates.lat]);
  return point ? [point[0], point[1]] : null;
}

type AnyTopology = Topology<{ [name: string]: GeometryCollection }>;

export function buildShapes(world: AnyTopology, us: AnyTopology, panels: Panel[]): MapShapes {
  const countries = world.objects.countries;
  const land = feature(world, countries);
  const countryBorders = mesh(world, countries, (a, b) => a !== b);
  const stateBorders = mesh(us, us.objects.states, (a, b) => a !== b);
  return {
    panels: panels.map((panel) => {
      const path = geoPath(panel.projection);
      return {
        ...panel,
        land: path(land) ?? "",
        borders: path(countryBorders) ?? "",
        states: panel.id === "na" ? (path(stateBorders) ?? "") : "",
      };
    }),
  };
}
