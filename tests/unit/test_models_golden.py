"""Golden numbers: every bundled methodology version, quantified by hand from its sources.

Each row names the event (behaviour, region, local day, quantity), the version that must be
resolved for it, the factor used, the exact result and the credited grams (rounded down once),
and where the factor comes from (a row of /work/shared/methodology-facts.md, "facts" below).
A version without a row here fails `test_every_bundled_methodology_version_has_a_golden_case`.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import NamedTuple

import pytest

from tanpuhui.domain.checks import check_trace
from tanpuhui.domain.events import Reason, Rejection
from tanpuhui.domain.methodology import Catalogue
from tanpuhui.domain.models import MODELS, Quantification, quantify
from tests.conftest import CST
from tests.unit.domain_builders import factor, methodology, parsed

SHENZHEN, WUHAN, LUZHOU, BEIJING = "440304", "420106", "510502", "110105"
SHANGHAI, CHENGDU, HEBEI, GUANGZHOU = "310101", "510104", "130102", "440104"


class Golden(NamedTuple):
    key: str  # the version that must be resolved
    behaviour: str
    region: str
    day: date
    quantity: dict[str, str]
    factor_id: str  # the factor used; several, comma-separated, for multi-factor models
    exact: str  # exact grams, Decimal
    grams: int  # credited, rounded down once
    source: str
    minutes: int = 30  # how long the behaviour lasted


D2022, D2024, D2025 = date(2022, 6, 1), date(2024, 6, 1), date(2025, 6, 1)
D2026 = date(2026, 12, 15)  # the audit's fixes (issue 9 item 8) apply from 2026-12-01
D2027 = date(2027, 1, 15)  # energy bounds per day of the period apply from 2027-01-01
HONG_KONG, TAIWAN, EAST_INNER_MONGOLIA = "810000", "710000", "150402"

GOLDEN: list[Golden] = [
    # --- Shenzhen public transport (facts: Transport, Shenzhen rows, TEXT) ------------------
    Golden("metro.shenzhen@1", "metro_ride", SHENZHEN, D2025, {"distance_km": "10"},
           "shenzhen_metro_2021", "467.0", 467, "10 km × 46.7 g/pkm (TEXT, not the 46.8 variant)"),
    Golden("metro.shenzhen@1", "metro_ride", SHENZHEN, D2025, {"distance_km": "7.5"},
           "shenzhen_metro_2021", "350.25", 350, "7.5 km × 46.7 g/pkm = 350.25 → 350"),
    Golden("bus.shenzhen@1", "bus_ride", SHENZHEN, D2025, {"distance_km": "10"},
           "shenzhen_bus_2021", "269.0", 269,
           "10 km × 26.9 g/pkm (TEXT; not the 0.152 kg/km of code repos)"),
    Golden("bus.shenzhen@1", "bus_ride", SHENZHEN, D2025, {"distance_km": "3.3"},
           "shenzhen_bus_2021", "88.77", 88, "3.3 km × 26.9 g/pkm = 88.77 → 88"),
    # --- Guangzhou (facts: Transport, Guangzhou metro 2015 row, TEXT) ------------------------
    Golden("metro.guangzhou@1", "metro_ride", GUANGZHOU, D2025, {"distance_km": "12"},
           "guangzhou_metro_trip_mean_2015", "515.5", 515,
           "0.5155 kg/trip (均值法, the lower of 0.5155 and 替代法 0.5419) → 515"),
    # --- Wuhan 武碳江湖 (facts: Transport, Wuhan 2025 and 2023 launch rows, 2ND) -----------
    Golden("cycling.shared_bike.wuhan@2", "bike_share_ride", WUHAN, D2025,
           {"distance_km": "3.42"}, "wuhan_bike_2025", "319.086", 319,
           "3.42 km × 93.3 g/km (Xinhua 2025) = 319.086 → 319"),
    Golden("cycling.shared_bike.wuhan@2", "bike_share_ride", WUHAN, date(2025, 1, 1),
           {"distance_km": "2"}, "wuhan_bike_2025", "186.6", 186,
           "first day of version 2: 2 km × 93.3 g/km = 186.6 → 186"),
    Golden("cycling.shared_bike.wuhan@1", "bike_share_ride", WUHAN, date(2024, 12, 31),
           {"distance_km": "3.42"}, "wuhan_bike_2023", "136.80", 136,
           "last day of version 1: 3.42 km × 40 g/km (长江日报 2023-06-05) = 136.8 → 136"),
    Golden("bus.wuhan@1", "bus_ride", WUHAN, D2024, {"distance_km": "8"},
           "wuhan_bus_2023", "150", 150,
           "150 g per trip (2023 launch); the distance only checks plausibility"),
    Golden("bus.wuhan@2", "bus_ride", WUHAN, D2025, {"count": "1"},
           "wuhan_bus_2025", "212.5", 212, "212.5 g per trip (Xinhua 2025) → 212"),
    Golden("metro.wuhan@1", "metro_ride", WUHAN, D2025, {"distance_km": "10"},
           "wuhan_metro_2025", "784.0", 784, "10 km × 78.4 g/km (Xinhua 2025)"),
    Golden("metro.wuhan@1", "metro_ride", WUHAN, D2025, {"distance_km": "3.42"},
           "wuhan_metro_2025", "268.128", 268, "3.42 km × 78.4 g/km = 268.128 → 268"),
    Golden("walking.wuhan@1", "walking_steps", WUHAN, D2025, {"steps": "10000"},
           "wuhan_walk_step", "200.00", 200,
           "碳碳星球: 0.02 points/step × 1 g/point (facts: Food…, 碳碳星球 row, DERIVED)"),
    Golden("walking.wuhan@1", "walking_steps", WUHAN, D2025, {"steps": "12345"},
           "wuhan_walk_step", "246.90", 246, "no blocks: 12,345 × 0.02 g = 246.9 → 246"),
    # --- Beijing 绿色生活季 minimum credits (facts: Transport and Food…, Beijing rows, 2ND) ----
    Golden("cycling.shared_bike.beijing@1", "bike_share_ride", BEIJING, D2025,
           {"distance_km": "5"}, "beijing_cycling_trip_2022", "52", 52,
           "cycling ≥ 52 g per trip, whatever the distance"),
    Golden("bus.beijing@1", "bus_ride", BEIJING, D2025, {"distance_km": "6"},
           "beijing_bus_trip_2022", "80", 80, "bus ≥ 80 g per trip"),
    Golden("metro.beijing@1", "metro_ride", BEIJING, D2025, {"distance_km": "22"},
           "beijing_metro_trip_2022", "46", 46, "metro ≥ 46 g per trip (not 22 km × 61.4 g/pkm)"),
    Golden("clean_plate.beijing@1", "clean_plate", BEIJING, D2025, {},
           "beijing_clean_plate_2022", "449", 449, "clean plate ≥ 449 g per time"),
    Golden("no_disposable_cutlery.beijing@1", "no_disposable_cutlery", BEIJING, D2025,
           {"count": "1"}, "beijing_no_cutlery_2022", "23", 23,
           "no disposable cutlery ≥ 23 g per order"),
    # --- Luzhou 绿芽积分 (facts: Food…, Luzhou row, 2ND) --------------------------------------
    Golden("bus.luzhou@1", "bus_ride", LUZHOU, D2025, {}, "luzhou_bus_qr_2024", "80", 80,
           "bus ride by QR 80 g → 10 points"),
    Golden("clean_plate.luzhou@1", "clean_plate", LUZHOU, D2025, {"count": "1"},
           "luzhou_clean_plate_2024", "144", 144, "clean plate 144 g → 5 points"),
    Golden("walking.luzhou@1", "walking_steps", LUZHOU, D2025, {"steps": "10000"},
           "luzhou_walk_500_steps", "164.0000", 164, "20 blocks of 500 steps × 8.2 g = 164"),
    Golden("walking.luzhou@1", "walking_steps", LUZHOU, D2025, {"steps": "499"},
           "luzhou_walk_500_steps", "0", 0, "499 steps: no whole block of 500, 0 g"),
    Golden("walking.luzhou@1", "walking_steps", LUZHOU, D2025, {"steps": "999"},
           "luzhou_walk_500_steps", "8.2000", 8, "999 steps: 1 block × 8.2 g = 8.2 → 8"),
    Golden("used_clothes.luzhou@1", "used_clothes_recycling", LUZHOU, D2025, {"weight_kg": "1"},
           "luzhou_clothes_2024", "1280", 1280, "1 kg of used clothes 1280 g → 30 points"),
    Golden("used_clothes.luzhou@1", "used_clothes_recycling", LUZHOU, D2025, {"weight_kg": "2.5"},
           "luzhou_clothes_2024", "3200.0", 3200, "2.5 kg × 1280 g/kg"),
    # --- national defaults where no city published a value ------------------------------------
    Golden("clean_plate.national@1", "clean_plate", SHANGHAI, D2025, {},
           "national_clean_plate_operator", "144", 144,
           "operator-set: the lowest published city value (Luzhou 144 g)"),
    # --- version 2 of the clean plates: a frequency limit, the same factors (from 2026-11-01) ---
    Golden("clean_plate.national@2", "clean_plate", SHANGHAI, D2026, {},
           "national_clean_plate_operator", "144", 144, "as version 1: Luzhou's 144 g"),
    Golden("clean_plate.beijing@2", "clean_plate", BEIJING, D2026, {},
           "beijing_clean_plate_2022", "449", 449, "as version 1: ≥ 449 g per time"),
    Golden("clean_plate.luzhou@2", "clean_plate", LUZHOU, D2026, {"count": "1"},
           "luzhou_clean_plate_2024", "144", 144, "as version 1: 144 g → 5 points"),
    Golden("no_disposable_cutlery.national@1", "no_disposable_cutlery", SHANGHAI, D2025, {},
           "national_no_cutlery_operator", "23", 23, "operator-set: Beijing's 23 g per order"),
    Golden("cycling.shared_bike.national@1", "bike_share_ride", CHENGDU, D2025,
           {"distance_km": "3.42"}, "national_bike_operator", "136.80", 136,
           "operator-set: the lowest city value (Wuhan 2023, 40 g/km) × 3.42 km → 136"),
    Golden("cycling.shared_bike.national@1", "bike_share_ride", WUHAN, date(2023, 6, 4),
           {"distance_km": "3.42"}, "national_bike_operator", "136.80", 136,
           "Wuhan the day before its 2023 launch falls back to the national default"),
    Golden("walking.national@1", "walking_steps", SHANGHAI, D2025, {"steps": "10000"},
           "national_walk_operator", "164.0000", 164,
           "operator-set: Luzhou's 8.2 g per 500 steps, whole blocks: 20 × 8.2"),
    Golden("used_clothes.national@1", "used_clothes_recycling", SHANGHAI, D2025, {"weight_kg": "1"},
           "textile_reuse_literature", "3600.0", 3600, "textile reuse 1 kg → 3.6 kg CO2 (2ND)"),
    Golden("used_clothes.national@1", "used_clothes_recycling", SHANGHAI, D2025,
           {"weight_kg": "0.35"}, "textile_reuse_literature", "1260.00", 1260,
           "0.35 kg × 3.6 kg/kg"),
    # --- household electricity × grid factor of the year (facts: Electricity table, TEXT) -----
    Golden("household_electricity.saved@1", "household_electricity_saved", HEBEI, D2022,
           {"kwh": "100"}, "grid_hebei_2022", "72520.0000", 72520,
           "100 kWh × 河北 2022 0.7252 kg/kWh (vs national 2021 0.5568 below)"),
    Golden("household_electricity.saved@1", "household_electricity_saved", HEBEI, date(2021, 6, 1),
           {"kwh": "100"}, "grid_cn_2021", "55680.0000", 55680,
           "no 2021 province factor: 100 kWh × national 2021 0.5568 kg/kWh"),
    Golden("household_electricity.saved@1", "household_electricity_saved", SHANGHAI, D2022,
           {"kwh": "100"}, "grid_cn_2022", "53660.0000", 53660,
           "no 上海 2022 factor published here: national 2022 0.5366 kg/kWh"),
    Golden("household_electricity.saved@1", "household_electricity_saved", HEBEI, date(2023, 6, 1),
           {"kwh": "100"}, "grid_cn_2023", "53060.0000", 53060,
           "2023 has no province factors here: national 2023 0.5306 kg/kWh"),
    Golden("household_electricity.saved@1", "household_electricity_saved", SHANGHAI, D2024,
           {"kwh": "100"}, "grid_cn_2023", "53060.0000", 53060,
           "2024: the newest national factor (2023, 0.5306) applies until a newer one"),
    Golden("household_electricity.saved@1", "household_electricity_saved", HEBEI, D2022,
           {"kwh": "0.7"}, "grid_hebei_2022", "507.64000", 507,
           "0.7 kWh × 725.2 g/kWh = 507.64 → 507"),
    # version 2 (from 2025): the regional grid factors (facts: Electricity 2023 regions, TEXT)
    Golden("household_electricity.saved@2", "household_electricity_saved", BEIJING, D2025,
           {"kwh": "100"}, "grid_north_11_2023", "63610.0000", 63610,
           "100 kWh × 华北 2023 0.6361 kg/kWh (北京 is in the 华北 grid)"),
    Golden("household_electricity.saved@2", "household_electricity_saved", CHENGDU, D2025,
           {"kwh": "100"}, "grid_southwest_51_2023", "24720.0000", 24720,
           "100 kWh × 西南 2023 0.2472 kg/kWh (四川 is in the 西南 grid)"),
    Golden("household_electricity.saved@2", "household_electricity_saved", GUANGZHOU, D2025,
           {"kwh": "12.5"}, "grid_south_44_2023", "5052.50000", 5052,
           "12.5 kWh × 南方 2023 0.4042 kg/kWh = 5,052.5 → 5,052"),
    *[
        Golden("household_electricity.saved@1", "household_electricity_saved", region, D2022,
               {"kwh": "100"}, factor_id, exact, grams, f"100 kWh × {name} 2022 provincial factor")
        for region, factor_id, exact, grams, name in [
            ("140105", "grid_shanxi_2022", "70960.0000", 70960, "山西 0.7096"),
            ("120101", "grid_tianjin_2022", "70410.0000", 70410, "天津 0.7041"),
            ("150102", "grid_neimenggu_2022", "68490.0000", 68490, "内蒙古 0.6849"),
            ("340102", "grid_anhui_2022", "67820.0000", 67820, "安徽 0.6782"),
            ("350102", "grid_fujian_2022", "40920.0000", 40920, "福建 0.4092"),
            ("450102", "grid_guangxi_2022", "40440.0000", 40440, "广西 0.4044"),
            ("630102", "grid_qinghai_2022", "15670.0000", 15670, "青海 0.1567"),
            ("510104", "grid_sichuan_2022", "14040.0000", 14040, "四川 0.1404"),
            ("530102", "grid_yunnan_2022", "10730.0000", 10730, "云南 0.1073"),
        ]
    ],
    # ==== the T/ACEF 031-2022 catalogue: 衣 食 住 行 用 办公 数字金融 ==========================
    # --- 行: running steps, credited like walking steps (facts: Food…, Luzhou and 碳碳星球 rows) -
    Golden("running_steps.luzhou@1", "running_steps", LUZHOU, D2025, {"steps": "10000"},
           "luzhou_run_500_steps", "164.0000", 164,
           "Luzhou 500 steps = 8.2 g (2ND → 0.0164 g/step DERIVED): 20 blocks × 8.2 g = 164"),
    Golden("running_steps.wuhan@1", "running_steps", WUHAN, D2025, {"steps": "8765"},
           "wuhan_run_step", "175.30", 175,
           "碳碳星球 0.02 points/step × 1 g/point, no blocks: 8,765 × 0.02 = 175.3 → 175"),
    Golden("running_steps.national@1", "running_steps", SHANGHAI, D2025, {"steps": "7499"},
           "national_run_operator", "114.8000", 114,
           "operator-set: Luzhou's 8.2 g per 500 steps; 7,499 steps = 14 whole blocks × 8.2 g"),
    # --- 行: own bike, the cycling factors whoever owns the bike (facts: Transport, Wuhan and
    #     Beijing rows, 2ND) ----------------------------------------------------------------
    Golden("cycling.own_bike.wuhan@2", "own_bike_ride", WUHAN, D2025, {"distance_km": "3.42"},
           "wuhan_own_bike_2025", "319.086", 319,
           "3.42 km × 93.3 g/km (Xinhua 2025), as for a shared bike = 319.086 → 319"),
    Golden("cycling.own_bike.wuhan@1", "own_bike_ride", WUHAN, date(2024, 12, 31),
           {"distance_km": "5"}, "wuhan_own_bike_2023", "200", 200,
           "last day of version 1: 5 km × 40 g/km (长江日报 2023-06-05)"),
    Golden("cycling.own_bike.beijing@1", "own_bike_ride", BEIJING, D2025,
           {"distance_km": "8"}, "beijing_own_bike_trip_2022", "52", 52,
           "Beijing 绿色生活季 cycling ≥ 52 g per trip, whatever the distance"),
    Golden("cycling.own_bike.national@1", "own_bike_ride", CHENGDU, D2025,
           {"distance_km": "3.42"}, "national_own_bike_operator", "136.80", 136,
           "operator-set: the lowest city cycling value (Wuhan 2023, 40 g/km) × 3.42 km → 136"),
    # --- 行: tram and carpool, operator-set at the lowest published per-pkm reduction of any
    #     low-carbon mode (facts: Transport, Shenzhen bus 26.9 g/pkm, TEXT) --------------------
    Golden("tram.national@1", "tram_ride", SHANGHAI, D2025, {"distance_km": "8.5"},
           "national_tram_operator", "228.65", 228, "8.5 km × 26.9 g/pkm = 228.65 → 228"),
    Golden("carpool.national@1", "carpool_ride", SHANGHAI, D2025, {"distance_km": "25"},
           "national_carpool_operator", "672.5", 672, "25 pkm × 26.9 g/pkm = 672.5 → 672"),
    # --- 行: NEV taxi (facts: Transport, Wuhan 2023 launch row: 24 km → 168 g, 2ND) ------------
    Golden("ev_taxi.wuhan@1", "ev_taxi_ride", WUHAN, D2025, {"distance_km": "24"},
           "wuhan_nev_taxi_2023", "168", 168,
           "the source's own example: 24 km × (168 g / 24 km = 7 g/km, DERIVED) = 168 g"),
    Golden("ev_taxi.national@1", "ev_taxi_ride", WUHAN, date(2023, 6, 4), {"distance_km": "24"},
           "national_nev_taxi_operator", "168", 168,
           "Wuhan the day before the 2023 launch falls back to the national default (same 7 g/km)"),
    Golden("ev_taxi.national@1", "ev_taxi_ride", SHANGHAI, D2025, {"distance_km": "10.5"},
           "national_nev_taxi_operator", "73.5", 73,
           "operator-set on Wuhan's 7 g/km: 10.5 km × 7 = 73.5 → 73"),
    # --- 行: car-free day (facts: Transport, Beijing 22 km commute row, 2ND) ------------------
    Golden("car_non_use.beijing@1", "car_non_use_day", BEIJING, D2025, {"count": "1"},
           "beijing_commute_saving_2019", "4630.00", 4630,
           "北京市交通委 2019-12: car 5.98 kg − metro 1.35 kg = 4.63 kg per day"),
    Golden("car_non_use.national@1", "car_non_use_day", SHANGHAI, D2025, {},
           "national_car_non_use_operator", "4630.00", 4630,
           "operator-set on Beijing's 4.63 kg per day (22 km commute)"),
    # --- 行: operator-set without a published value (facts: "Not found") -----------------------
    Golden("etc_payment.national@1", "etc_nonstop_payment", SHANGHAI, D2025, {"count": "1"},
           "national_etc_placeholder", "1", 1, "operator-set placeholder: 1 g per toll payment"),
    Golden("ev_logistics.national@1", "ev_logistics_km", SHANGHAI, D2025,
           {"distance_km": "120"}, "national_ev_truck_operator", "840", 840,
           "operator-set on Wuhan's NEV taxi 7 g/km (no EV-truck value): 120 km × 7 = 840"),
    # --- 食 (facts: Food…, Beijing, Luzhou and Meituan rows; operator-set where not found) -----
    Golden("own_cup.national@1", "own_cup", SHANGHAI, D2025, {},
           "national_own_cup_operator", "23", 23,
           "operator-set on Beijing's no-disposable-cutlery 23 g (paper cup not found)"),
    Golden("plant_based_meal.national@1", "plant_based_meal", SHANGHAI, D2025, {"count": "1"},
           "national_plant_meal_operator", "144", 144,
           "operator-set: the lowest published per-meal value (Luzhou clean plate, 144 g)"),
    Golden("small_portion.national@1", "small_portion", SHANGHAI, D2025, {},
           "national_small_portion_operator", "23", 23,
           "operator-set: the lowest published food value (Beijing no cutlery, 23 g per order)"),
    Golden("meal_box_recycling.national@1", "meal_box_recycling", SHANGHAI, D2025,
           {"weight_kg": "0.35"}, "meituan_meal_box_recycling", "542.50", 542,
           "Meituan 青山计划 ≈1.55 t/t = 1.55 kg/kg (DERIVED): 0.35 kg × 1550 g = 542.5 → 542"),
    Golden("meal_box_recycling.national@1", "meal_box_recycling", SHANGHAI, D2025,
           {"weight_kg": "1"}, "meituan_meal_box_recycling", "1550", 1550,
           "1 t of boxes → 1.55 t CO2, scaled to 1 kg"),
    # --- 住 -----------------------------------------------------------------------------------
    Golden("hotel_no_disposables.national@1", "hotel_no_disposables", SHANGHAI, D2025,
           {"count": "1"}, "meituan_hotel_no_disposables", "203.2", 203,
           "Meituan: 203.2 g per hotel order without disposables (2ND) → 203"),
    Golden("water_saving_fixture.national@1", "water_saving_fixture", SHANGHAI, D2025,
           {"count": "3"}, "national_water_fixture_placeholder", "3", 3,
           "operator-set placeholder: 3 fixtures × 1 g"),
    Golden("rooftop_pv.grid_average@1", "rooftop_pv_generation", HEBEI, D2022,
           {"kwh": "350"}, "grid_hebei_2022", "253820.0000", 253820,
           "350 kWh × 河北 2022 0.7252 kg/kWh (TEXT), as household_electricity.saved@1"),
    Golden("rooftop_pv.grid_average@1", "rooftop_pv_generation", SHANGHAI, D2022,
           {"kwh": "350"}, "grid_cn_2022", "187810.0000", 187810,
           "no 上海 2022 factor here: 350 kWh × national 2022 0.5366 kg/kWh"),
    Golden("rooftop_pv.grid_average@1", "rooftop_pv_generation", HEBEI, date(2021, 6, 1),
           {"kwh": "100"}, "grid_cn_2021", "55680.0000", 55680,
           "2021: no province factor, 100 kWh × national 0.5568 kg/kWh"),
    Golden("rooftop_pv.grid_average@1", "rooftop_pv_generation", CHENGDU, D2024,
           {"kwh": "1000.5"}, "grid_cn_2023", "530865.30000", 530865,
           "2024: the newest national factor (2023, 0.5306): 1000.5 × 530.6 g = 530,865.3"),
    Golden("rooftop_pv.grid_average@1", "rooftop_pv_generation", CHENGDU, D2022,
           {"kwh": "100"}, "grid_sichuan_2022", "14040.0000", 14040,
           "100 kWh × 四川 2022 0.1404 kg/kWh"),
    # --- 衣 (facts: Food…, textile reuse row, 2ND) -----------------------------------------------
    Golden("second_hand_clothing.national@1", "second_hand_clothing_purchase", SHANGHAI, D2025,
           {"weight_kg": "0.8"}, "textile_reuse_literature_purchase", "2880.0", 2880,
           "0.8 kg × 3.6 kg/kg (textile reuse literature)"),
    # --- 用: packaging by material (facts: per-material recycling factors not found) ------------
    Golden("packaging_recycling.plastic.national@1", "packaging_recycling_plastic", SHANGHAI,
           D2025, {"weight_kg": "2"}, "national_packaging_plastic_operator", "2560", 2560,
           "operator-set: the lowest per-kg recycling value (Luzhou clothes 1280 g) × 2 kg"),
    Golden("packaging_recycling.metal.national@1", "packaging_recycling_metal", SHANGHAI,
           D2025, {"weight_kg": "0.45"}, "national_packaging_metal_operator", "576.00", 576,
           "operator-set: 0.45 kg × 1280 g/kg = 576"),
    Golden("packaging_recycling.paper.national@1", "packaging_recycling_paper", SHANGHAI,
           D2025, {"weight_kg": "3.7"}, "national_packaging_paper_operator", "3.7", 3,
           "operator-set placeholder 1 g/kg: 3.7 kg → 3.7 g → 3"),
    Golden("packaging_recycling.glass.national@1", "packaging_recycling_glass", SHANGHAI,
           D2025, {"weight_kg": "5"}, "national_packaging_glass_operator", "5", 5,
           "operator-set placeholder 1 g/kg: 5 kg → 5 g"),
    # --- 办公 (facts: not found; video conference on the lowest per-trip value) -----------------
    Golden("paperless_meeting.national@1", "paperless_meeting", SHANGHAI, D2025,
           {"count": "120"}, "national_paperless_page_placeholder", "120", 120,
           "operator-set placeholder: 120 pages avoided × 1 g"),
    Golden("video_conference.national@1", "video_conference", SHANGHAI, D2025, {},
           "national_video_conference_operator", "46", 46,
           "operator-set: the lowest per-trip value (Beijing metro ≥ 46 g) for the trip avoided"),
    Golden("double_sided_printing.national@1", "double_sided_printing", SHANGHAI, D2025,
           {"count": "37"}, "national_duplex_page_placeholder", "37", 37,
           "operator-set placeholder: 37 sheets saved × 1 g"),
    # --- 数字金融 (facts: e-invoice/e-ticket, online bill payment not found) --------------------
    Golden("e_invoice.national@1", "e_invoice", SHANGHAI, D2025, {"count": "1"},
           "national_e_invoice_placeholder", "1", 1, "operator-set placeholder: 1 g"),
    Golden("e_ticket.national@1", "e_ticket", SHANGHAI, D2025, {},
           "national_e_ticket_placeholder", "1", 1, "operator-set placeholder: 1 g"),
    Golden("e_statement.national@1", "e_statement", SHANGHAI, D2025, {},
           "national_e_statement_placeholder", "1", 1, "operator-set placeholder: 1 g"),
    Golden("online_bill_payment.national@1", "online_bill_payment", SHANGHAI, D2025, {},
           "national_online_bill_payment_placeholder", "1", 1, "operator-set placeholder: 1 g"),
    # --- mode_mix: shared e-bikes, T/CIIA 058-2025 (facts: Beijing 22 km commute, 2ND/DERIVED)
    Golden("ebike_share.beijing@1", "ebike_share_ride", BEIJING, D2025, {"distance_km": "5"},
           "beijing_car_commute_2019,beijing_metro_commute_2019,ebike_charging_operator",
           "572.6", 572,
           "5 km × (0.7 × 61.4 + 0.3 × 271.8 − 10): car 5.98 kg / 22 km and metro 1.35 kg / 22 km "
           "(2ND, derived); shares for rides over 3 km and the charging factor operator-set",
           minutes=20),
    Golden("ebike_share.beijing@1", "ebike_share_ride", BEIJING, D2025, {"distance_km": "2"},
           "beijing_car_commute_2019,beijing_metro_commute_2019,ebike_charging_operator",
           "186.96", 186, "2 km × (0.8 × 61.4 + 0.2 × 271.8 − 10): the up-to-3-km shares",
           minutes=10),
    # --- baseline_vs_actual: Shenzhen household electricity (facts: Electricity, 南方 2023 TEXT;
    #     the Shenzhen method's city baseline has no published number: operator-set 2.5 kWh/p·d)
    Golden("household_electricity.shenzhen_baseline@1", "household_electricity_use", SHENZHEN,
           D2025, {"kwh": "60", "baseline_kwh": "80", "count": "1"},
           "grid_south_2023,shenzhen_residential_baseline_operator", "6063.0", 6063,
           "under the city baseline (2.5 × 1 person × 30 days = 75 kWh): (75 − 60) kWh × "
           "0.4042 kg/kWh (南方 2023, TEXT) = 6,063 g", minutes=30 * 24 * 60),
    Golden("household_electricity.shenzhen_baseline@1", "household_electricity_use", SHENZHEN,
           D2025, {"kwh": "78", "baseline_kwh": "100", "count": "1"},
           "grid_south_2023,shenzhen_residential_baseline_operator", "8892.4", 8892,
           "above the city baseline (78 > 75 kWh): against the household's own average, "
           "(100 − 78) kWh × 0.4042 kg/kWh = 8,892.4 g", minutes=30 * 24 * 60),
    # ==== the audit's fixes (issue 9 item 8): new versions from 2026-12-01 ===================
    # --- per-trip credits scaled below full_trip_km = per-trip value / the lowest published
    #     per-km reduction of the mode (Shenzhen metro 46.7, bus 26.9 g/pkm, TEXT) ------------
    Golden("metro.beijing@2", "metro_ride", BEIJING, D2026, {"distance_km": "0.5"},
           "beijing_metro_trip_2022", "23.0", 23,
           "46 g/trip × 0.5 km / 1 km (46 / 46.7 = 0.985 → 1 km): half a trip, not 46 g"),
    Golden("metro.beijing@2", "metro_ride", BEIJING, D2026, {"distance_km": "22"},
           "beijing_metro_trip_2022", "46", 46, "a trip of 1 km or more earns the 46 g per trip"),
    Golden("metro.guangzhou@2", "metro_ride", GUANGZHOU, D2026, {"distance_km": "11.1"},
           "guangzhou_metro_trip_mean_2015", "515.5", 515,
           "515.5 g/trip at full_trip_km 11.1 (515.5 / 46.7 = 11.04 → 11.1 km)"),
    Golden("metro.guangzhou@2", "metro_ride", GUANGZHOU, D2026, {"distance_km": "2.22"},
           "guangzhou_metro_trip_mean_2015", "103.1", 103, "515.5 × 2.22 / 11.1 = 103.1 → 103"),
    Golden("bus.beijing@2", "bus_ride", BEIJING, D2026, {"distance_km": "1.5"},
           "beijing_bus_trip_2022", "40.0", 40, "80 g/trip × 1.5 / 3 km (80 / 26.9 = 2.97 → 3)"),
    Golden("bus.luzhou@2", "bus_ride", LUZHOU, D2026, {"distance_km": "2.4"},
           "luzhou_bus_qr_2024", "64.0", 64, "80 g/trip × 2.4 / 3 km = 64"),
    Golden("bus.luzhou@2", "bus_ride", LUZHOU, D2026, {"distance_km": "8"},
           "luzhou_bus_qr_2024", "80", 80, "beyond 3 km: the full 80 g per ride"),
    Golden("bus.luzhou@3", "bus_ride", LUZHOU, D2027, {},
           "luzhou_bus_qr_2024", "5.333333333333333333333333334", 5,
           "a QR tap without its distance: the shortest ride accepted, 80 g × 0.2 / 3 km "
           "(version 2: quantity_mismatch)"),
    Golden("bus.luzhou@3", "bus_ride", LUZHOU, D2027, {"distance_km": "2.4"},
           "luzhou_bus_qr_2024", "64.0", 64, "as version 2: 80 g/trip × 2.4 / 3 km = 64"),
    Golden("bus.wuhan@3", "bus_ride", WUHAN, D2026, {"distance_km": "3.95"},
           "wuhan_bus_2025", "106.25", 106,
           "212.5 g/trip × 3.95 / 7.9 km (212.5 / 26.9 = 7.90) = 106.25 → 106"),
    Golden("cycling.shared_bike.beijing@2", "bike_share_ride", BEIJING, D2026,
           {"distance_km": "0.5"}, "beijing_cycling_trip_2022", "13.00", 13,
           "52 g/trip × 0.5 / 2 km (≈ 2 km average ride, Meituan 2023, 2ND) = 13"),
    Golden("cycling.own_bike.beijing@2", "own_bike_ride", BEIJING, D2026,
           {"distance_km": "3"}, "beijing_own_bike_trip_2022", "52", 52,
           "beyond 2 km: the full 52 g per trip"),
    # --- cycling national default: the lowest published value, 52 g / 2 km = 26 g/km ---------
    Golden("cycling.shared_bike.national@2", "bike_share_ride", CHENGDU, D2026,
           {"distance_km": "3.42"}, "national_bike_lowest_published_operator", "88.92", 88,
           "3.42 km × 26 g/km (not Wuhan 2023's 40 g/km: 136 g) = 88.92 → 88"),
    Golden("cycling.own_bike.national@2", "own_bike_ride", CHENGDU, D2026,
           {"distance_km": "2"}, "national_own_bike_lowest_published_operator", "52", 52,
           "2 km × 26 g/km = Beijing's 52 g per ~2 km trip"),
    # --- e-bike: metro baseline 38.8 g/pkm (271.8 / 7, the lower Beijing reading), charging
    #     10 g/km (operator-set), ceiling the pedal-bike 26 g/km ---------------------------------
    Golden("ebike_share.beijing@2", "ebike_share_ride", BEIJING, D2026, {"distance_km": "2"},
           "beijing_rail_one_seventh_of_car_2019,ebike_charging_operator,"
           "beijing_pedal_bike_per_km_2022", "52", 52,
           "2 km × min(38.8 − 10, 26) g/km = 52 g, a pedal-bike ride's (version 1: 186 g)",
           minutes=10),
    Golden("ebike_share.beijing@2", "ebike_share_ride", BEIJING, D2026, {"distance_km": "5"},
           "beijing_rail_one_seventh_of_car_2019,ebike_charging_operator,"
           "beijing_pedal_bike_per_km_2022", "130", 130, "5 km × 26 g/km (version 1: 572 g)",
           minutes=20),
    # --- used clothes: the platform recycling value, not the reuse literature value -------------
    Golden("used_clothes.national@2", "used_clothes_recycling", SHANGHAI, D2026,
           {"weight_kg": "1"}, "platform_clothes_recycling_luzhou_2024", "1280", 1280,
           "1 kg × 1280 g/kg (Luzhou 绿芽积分 on 绿普惠云, 2ND; version 1: 3.6 kg/kg reuse)"),
    # --- meal boxes: the lower derivation, rounded down ------------------------------------------
    Golden("meal_box_recycling.national@2", "meal_box_recycling", SHANGHAI, D2026,
           {"weight_kg": "0.35"}, "meituan_meal_box_recycling_2022", "451.50", 451,
           "0.35 kg × 1.29 kg/kg (7,000 t / 5,400 t = 1.296, rounded down) = 451.5 → 451"),
    # --- grid factors: the lower of the latest provincial and the regional value ---------------
    Golden("household_electricity.saved@3", "household_electricity_saved", "530102", D2026,
           {"kwh": "100"}, "grid_low_53_2023", "10730.0000", 10730,
           "云南: provincial 2022 0.1073 < 南方 2023 0.4042 (version 2 jumped to 0.4042)"),
    Golden("household_electricity.saved@3", "household_electricity_saved", HEBEI, D2026,
           {"kwh": "100"}, "grid_low_13_2023", "63610.0000", 63610,
           "河北: 华北 2023 0.6361 < provincial 2022 0.7252"),
    Golden("household_electricity.saved@3", "household_electricity_saved", EAST_INNER_MONGOLIA,
           D2026, {"kwh": "100"}, "grid_low_1504_2023", "51220.0000", 51220,
           "赤峰 (eastern Inner Mongolia) is in the 东北 grid: 东北 2023 0.5122 < 内蒙古 0.6849"),
    Golden("household_electricity.saved@3", "household_electricity_saved", SHANGHAI, D2026,
           {"kwh": "12.5"}, "grid_low_31_2023", "6875.00000", 6875,
           "上海: no provincial value, 华东 2023 0.5500: 12.5 × 550 g"),
    Golden("rooftop_pv.grid_average@2", "rooftop_pv_generation", CHENGDU, D2026,
           {"kwh": "100"}, "grid_low_51_2023", "14040.0000", 14040,
           "四川: provincial 2022 0.1404 < 西南 2023 0.2472 (version 1: national 0.5306)"),
    Golden("household_electricity.shenzhen_baseline@2", "household_electricity_use", SHENZHEN,
           D2026, {"kwh": "60", "baseline_kwh": "80", "count": "1"},
           "grid_south_44_2023,shenzhen_residential_baseline_operator", "6063.0", 6063,
           "as version 1 (75 − 60 kWh) × 南方 2023 0.4042, the grid membership now derived",
           minutes=30 * 24 * 60),
    Golden("rooftop_pv.grid_average@2", "rooftop_pv_generation", GUANGZHOU, D2026,
           {"kwh": "350"}, "grid_low_44_2023", "141470.0000", 141470,
           "广东: 南方 2023 0.4042 × 350 kWh"),
    # --- bounds per day of the period (from 2027): the same factors, the kWh bounded per day --
    Golden("household_electricity.saved@4", "household_electricity_saved", SHANGHAI, D2027,
           {"kwh": "300"}, "grid_low_31_2023", "165000.0000", 165000,
           "上海: 华东 2023 0.5500 × 300 kWh over 30 days (10 kWh a day, within the 17 a day)",
           minutes=30 * 24 * 60),
    Golden("rooftop_pv.grid_average@3", "rooftop_pv_generation", CHENGDU, D2027,
           {"kwh": "900"}, "grid_low_51_2023", "126360.0000", 126360,
           "四川: provincial 2022 0.1404 × 900 kWh over 30 days (within 109 a day)",
           minutes=30 * 24 * 60),
    Golden("household_electricity.shenzhen_baseline@3", "household_electricity_use", SHENZHEN,
           D2027, {"kwh": "60", "baseline_kwh": "80", "count": "1"},
           "grid_south_44_2023,shenzhen_residential_baseline_operator", "6063.0", 6063,
           "as version 2 (75 − 60 kWh) × 南方 2023 0.4042", minutes=30 * 24 * 60),
]  # fmt: skip


def golden_event_quantification(g: Golden, catalogue: Catalogue) -> Quantification:
    start = datetime(g.day.year, g.day.month, g.day.day, 8, 0, tzinfo=CST)
    ev = parsed(
        behaviour=g.behaviour, region=g.region, start=start, minutes=g.minutes, quantity=g.quantity
    )
    m = catalogue.resolve(g.behaviour, g.day, g.region)
    assert m is not None, f"nothing resolves for {g.behaviour} in {g.region} on {g.day}"
    assert m.key == g.key
    result = quantify(m, ev, g.day, catalogue)
    assert not isinstance(result, Rejection), result
    return result


@pytest.mark.parametrize(
    "g", [pytest.param(g, id=f"{g.key}-{g.region}-{g.day}-{g.quantity}") for g in GOLDEN]
)
def test_golden_number(g: Golden, catalogue: Catalogue) -> None:
    q = golden_event_quantification(g, catalogue)

    assert q.exact_grams == Decimal(g.exact)
    assert q.grams == g.grams
    assert sorted(use.factor.id for use in q.factors) == sorted(g.factor_id.split(","))


def test_every_bundled_methodology_version_has_a_golden_case(catalogue: Catalogue) -> None:
    bundled = {m.key for m in catalogue.methodologies}

    assert bundled - {g.key for g in GOLDEN} == set()
    assert {g.key for g in GOLDEN} <= bundled  # and no row names a version that is not shipped


@pytest.mark.parametrize(
    "g", [pytest.param(g, id=f"{g.key}-{g.region}-{g.day}-{g.quantity}") for g in GOLDEN]
)
def test_golden_trace_recomputes_to_the_same_grams(g: Golden, catalogue: Catalogue) -> None:
    q = golden_event_quantification(g, catalogue)
    trace = q.trace()

    assert trace["methodology"] == g.key
    assert trace["grams"] == g.grams
    assert trace["content_hash"] == q.methodology.content_hash
    assert list(check_trace(uuid.UUID(int=1), q.methodology, trace, g.grams)) == []


def test_the_wuhan_trace_reads_as_its_source(catalogue: Catalogue) -> None:
    (g,) = [g for g in GOLDEN if g.key == "cycling.shared_bike.wuhan@2" and g.grams == 319]

    trace = golden_event_quantification(g, catalogue).trace()

    assert trace == {
        "methodology": "cycling.shared_bike.wuhan@2",
        "content_hash": trace["content_hash"],
        "model": "distance",
        "inputs": {"distance_km": "3.42"},
        "factors": {"er": {"id": "wuhan_bike_2025", "value": "93.3"}},
        "quality": "2nd",  # the one factor it used is a secondary report (Xinhua 2025)
        "exact_grams": "319.086",
        "grams": 319,
    }
    assert str(trace["content_hash"]).startswith("sha256:")


def test_a_per_occurrence_event_without_a_count_counts_once(catalogue: Catalogue) -> None:
    m = catalogue.get("clean_plate.luzhou@1")
    assert m is not None
    ev = parsed(behaviour="clean_plate", region=LUZHOU, quantity={})

    q = quantify(m, ev, D2025, catalogue)

    assert not isinstance(q, Rejection)
    assert (q.inputs, q.grams) == ((("count", Decimal(1)),), 144)


def test_a_distance_methodology_needs_the_distance(catalogue: Catalogue) -> None:
    m = catalogue.get("metro.shenzhen@1")
    assert m is not None
    ev = parsed(behaviour="metro_ride", region=SHENZHEN, quantity={"count": "1"})

    result = quantify(m, ev, D2025, catalogue)

    assert result == Rejection(
        Reason.QUANTITY_MISMATCH,
        "metro.shenzhen@1 needs quantity.distance_km",
        "quantity.distance_km",
    )


def test_a_day_without_a_valid_factor_is_no_factor(catalogue: Catalogue) -> None:
    m = catalogue.get("household_electricity.saved@1")
    assert m is not None
    ev = parsed(behaviour="household_electricity_saved", region=HEBEI, quantity={"kwh": "100"})

    result = quantify(m, ev, date(2020, 12, 31), catalogue)

    assert isinstance(result, Rejection)
    assert result.reason == Reason.NO_FACTOR


def test_baseline_minus_project_is_the_reduction(catalogue: Catalogue) -> None:
    # Beijing 22 km commute (facts: Transport, 2ND/DERIVED): car 271.8 g/pkm, metro 61.4 g/pkm
    m = methodology(
        factors=[factor("271.8", "g/pkm", role="baseline"), factor("61.4", "g/pkm", role="project")]
    )
    ev = parsed(quantity={"distance_km": "22"})

    q = quantify(m, ev, D2025, Catalogue([m], catalogue.groups.values()))

    assert not isinstance(q, Rejection)
    assert q.exact_grams == Decimal("4628.8")  # 22 × (271.8 − 61.4); the source says 4.63 kg
    assert q.grams == 4628


def test_a_project_dirtier_than_the_baseline_credits_nothing(catalogue: Catalogue) -> None:
    m = methodology(
        factors=[factor("50", "g/km", role="baseline"), factor("60", "g/km", role="project")]
    )

    q = quantify(m, parsed(), D2025, Catalogue([m], catalogue.groups.values()))

    assert not isinstance(q, Rejection)
    assert q.exact_grams < 0
    assert q.grams == 0


def test_every_model_states_its_formula() -> None:
    assert sorted(MODELS) == [
        "baseline_vs_actual", "distance", "mode_mix", "per_occurrence", "per_quantity", "steps",
    ]  # fmt: skip
    assert all(spec.formula.startswith("ER = ") for spec in MODELS.values())
